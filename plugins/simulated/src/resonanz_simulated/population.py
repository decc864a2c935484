"""The people of the simulated network: power-law follower counts, a few opinion leaders.

About 1 % of accounts are opinion leaders with 50,000-500,000 followers (most of them verified);
everyone else follows a Pareto distribution from a dozen to a few thousand followers. German speakers
are the majority (the platform is German-speaking first), English speakers a large minority.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from resonanz_simulated.content import FIRST_NAMES, LAST_NAMES, ascii_handle

LEADER_SHARE = 0.01
GERMAN_SHARE = 0.6
LEADER_MIN_FOLLOWERS = 50_000
LEADER_MAX_FOLLOWERS = 500_000
REGULAR_MIN_FOLLOWERS = 12
REGULAR_MAX_FOLLOWERS = 40_000
PARETO_ALPHA = 1.3


@dataclass(frozen=True, slots=True)
class Account:
    external_id: str
    handle: str
    display_name: str
    followers: int
    verified: bool
    language: str
    opinion_leader: bool


def build_population(seed: int, size: int) -> tuple[Account, ...]:
    """``size`` accounts, the same ones for the same seed in every process."""
    rng = random.Random(f"{seed}:population")
    accounts: list[Account] = []
    taken: set[str] = set()
    for i in range(size):
        language = "de" if rng.random() < GERMAN_SHARE else "en"
        first = rng.choice(FIRST_NAMES[language])
        last = rng.choice(LAST_NAMES[language])
        leader = rng.random() < LEADER_SHARE
        if leader:
            # Log-uniform between 50k and 500k.
            followers = int(
                LEADER_MIN_FOLLOWERS * (LEADER_MAX_FOLLOWERS / LEADER_MIN_FOLLOWERS) ** rng.random()
            )
            verified = rng.random() < 0.7
        else:
            pareto = REGULAR_MIN_FOLLOWERS * rng.paretovariate(PARETO_ALPHA)
            followers = int(min(pareto, REGULAR_MAX_FOLLOWERS))
            verified = rng.random() < 0.01
        base = ascii_handle(f"{first}_{last}")
        handle = base
        while handle in taken:
            handle = f"{base}{rng.randint(1, 999)}"
        taken.add(handle)
        accounts.append(
            Account(
                external_id=f"u{i}",
                handle=handle,
                display_name=f"{first} {last}",
                followers=followers,
                verified=verified,
                language=language,
                opinion_leader=leader,
            )
        )
    return tuple(accounts)


def brand_account(handle: str, external_id: str) -> Account:
    """The account of a brand that publishes through the network, under exactly its own handle."""
    handle = handle.lstrip("@") or "brand"
    return Account(
        external_id=external_id,
        handle=handle,
        display_name=handle,
        followers=25_000,
        verified=True,
        language="de",
        opinion_leader=False,
    )
