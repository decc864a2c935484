"""Validation of listening-query requests: every problem reported at once, each naming its field.

``CreateQuery`` checks every field; ``UpdateQuery`` checks exactly the fields it changes, with the
same rules (:func:`validate_update`), plus the names in ``update_mask``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from resonanz.common.v1.mention_pb2 import QueryRole
from resonanz.listening.v1.listening_service_pb2 import CreateQueryRequest, UpdateQueryRequest
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator
from resonanz_sdk.manifest import Feature
from resonanz_sdk.network import Network

from resonanz_listening.languages import is_iso_639_1
from resonanz_listening.query import Node, parse

MAX_NAME = 200
MAX_LABEL = 200
MAX_LANGUAGES = 50

#: The fields ``UpdateQuery`` can change, in the order the proto declares them.
UPDATABLE_FIELDS: tuple[str, ...] = (
    "name",
    "expression",
    "languages",
    "networks",
    "label",
    "role",
    "enabled",
)


def _check_name(v: Validator, name: str) -> None:
    if v.non_empty(name, "name"):
        v.max_length(name, MAX_NAME, "name")


def _check_label(v: Validator, label: str) -> None:
    if v.non_empty(label, "label"):
        v.max_length(label, MAX_LABEL, "label")


def _check_expression(v: Validator, expression: str) -> Node | None:
    if not v.non_empty(expression, "expression"):
        return None
    try:
        return parse(expression)
    except ValidationError as exc:
        for violation in exc.violations:
            v.add(violation.field, violation.description)
        return None


def _check_languages(v: Validator, languages: Sequence[str]) -> None:
    v.require(len(languages) <= MAX_LANGUAGES, "languages", f"at most {MAX_LANGUAGES} languages")
    for i, code in enumerate(languages):
        v.require(is_iso_639_1(code), f"languages[{i}]", f"{code!r} is not a lower-case ISO 639-1 code")
    v.require(len(set(languages)) == len(languages), "languages", "must not repeat a language")


def _check_networks(v: Validator, names: Sequence[str], networks: Mapping[str, Network]) -> None:
    for i, name in enumerate(names):
        network = networks.get(name)
        if network is None:
            loaded = ", ".join(sorted(networks)) or "none"
            v.add(f"networks[{i}]", f"no network plugin {name!r} is loaded (loaded: {loaded})")
        elif not network.manifest.supports(Feature.SEARCH):
            v.add(f"networks[{i}]", f"network {name!r} does not support search")
    v.require(len(set(names)) == len(names), "networks", "must not repeat a network")


def _check_role(v: Validator, role: int) -> None:
    v.require(role in QueryRole.values(), "role", f"unknown role {role}")


def validate_create(request: CreateQueryRequest, networks: Mapping[str, Network]) -> Node:
    """Check a CreateQuery request; returns the parsed expression or raises ValidationError."""
    v = Validator()
    _check_name(v, request.name)
    _check_label(v, request.label)
    node = _check_expression(v, request.expression)
    _check_languages(v, list(request.languages))
    _check_networks(v, list(request.networks), networks)
    _check_role(v, request.role)
    v.check()
    assert node is not None  # a missing or malformed expression was reported above
    return node


@dataclass(frozen=True)
class QueryChanges:
    """The validated changes of an ``UpdateQuery``: ``None`` leaves a field as it is."""

    name: str | None = None
    expression: str | None = None
    languages: tuple[str, ...] | None = None
    networks: tuple[str, ...] | None = None
    label: str | None = None
    role: int | None = None
    enabled: bool | None = None


def _given_fields(request: UpdateQueryRequest) -> set[str]:
    """The fields an empty mask means: those set to something other than their default."""
    given = {
        "name": bool(request.name),
        "expression": bool(request.expression),
        "languages": bool(request.languages),
        "networks": bool(request.networks),
        "label": bool(request.label),
        "role": request.role != 0,
        "enabled": request.enabled,
    }
    return {name for name, present in given.items() if present}


def validate_update(request: UpdateQueryRequest, networks: Mapping[str, Network]) -> QueryChanges:
    """Check an UpdateQuery request; returns the changes or raises ValidationError (all violations).

    ``update_mask`` names the fields to change (``name``, ``expression``, ``languages``, ``networks``,
    ``label``, ``role``, ``enabled``); a field in the mask takes the request's value even when it is the
    default (so ``enabled=false`` or an empty ``languages`` list need the mask). An empty mask changes
    every field given with a non-default value. Each changed field is checked as ``CreateQuery`` checks
    it; unknown mask names are refused on ``update_mask`` naming them.
    """
    v = Validator()
    v.non_empty(request.query_id, "query_id")
    mask = [name.strip() for name in request.update_mask]
    unknown = sorted({name for name in mask if name not in UPDATABLE_FIELDS})
    if unknown:
        v.add(
            "update_mask",
            f"unknown field(s) {', '.join(repr(n) for n in unknown)}; "
            f"updatable: {', '.join(UPDATABLE_FIELDS)}",
        )
    fields = set(mask) & set(UPDATABLE_FIELDS) if mask else _given_fields(request)
    if not fields and not unknown:
        v.add(
            "update_mask",
            "nothing to change: name the fields in update_mask or give them non-default values",
        )
    if "name" in fields:
        _check_name(v, request.name)
    if "label" in fields:
        _check_label(v, request.label)
    if "expression" in fields:
        _check_expression(v, request.expression)
    if "languages" in fields:
        _check_languages(v, list(request.languages))
    if "networks" in fields:
        _check_networks(v, list(request.networks), networks)
    if "role" in fields:
        _check_role(v, request.role)
    v.check()
    return QueryChanges(
        name=request.name.strip() if "name" in fields else None,
        expression=request.expression if "expression" in fields else None,
        languages=tuple(request.languages) if "languages" in fields else None,
        networks=tuple(request.networks) if "networks" in fields else None,
        label=request.label.strip() if "label" in fields else None,
        role=int(request.role) if "role" in fields else None,
        enabled=request.enabled if "enabled" in fields else None,
    )
