"""Draft advice from a network's manifest, and best times to post from an account's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from resonanz_scoring.analytics.content import (
    BestTimeData,
    advise,
    best_times,
    hashtags_of,
)
from resonanz_scoring.analytics.errors import InvalidInputError
from resonanz_sdk.manifest import (
    ContentHints,
    Feature,
    Manifest,
    MediaKind,
    MediaRules,
    TextCounting,
    TextRules,
)

SHORT = Manifest(
    network="shorty",
    display_name="Shorty",
    features=frozenset({Feature.PUBLISH}),
    text=TextRules(max_length=40, counting=TextCounting.CODE_POINTS_URLS_FIXED, url_length=23),
)
PICTURES = Manifest(
    network="pics",
    display_name="Pics",
    features=frozenset({Feature.PUBLISH}),
    text=TextRules(max_length=2200, counting=TextCounting.UTF16_UNITS),
    media=MediaRules(max_items=10, allowed=frozenset({MediaKind.IMAGE}), required=True),
    content=ContentHints(recommended_max_hashtags=10, recommended_max_length=300),
)


def test_hashtags_need_a_letter_and_a_word_boundary() -> None:
    assert hashtags_of("#Neu bei uns: #1 Angebot, mail@x#y und ##doppelt #Ärger_2026") == [
        "Neu",
        "Ärger_2026",
    ]


def test_length_is_counted_the_way_the_network_counts_it() -> None:
    text = "Neu: https://example.com/a/very/long/path/indeed?x=1 #deal"
    advice = advise(text, SHORT, "de")
    assert advice.length == len("Neu:  #deal") + 23
    assert advice.fits
    assert advice.max_length == 40
    assert advice.hashtag_count == 1
    assert advice.recommended_max_hashtags == 3
    assert advice.suggestions == ()
    emoji = advise("😀" * 10 + " #a?", PICTURES, "en", media_count=1)
    assert emoji.length == 20 + 4  # UTF-16: each emoji is two units


def test_too_long_comes_first_and_says_by_how_much() -> None:
    advice = advise("x" * 45 + " ?", SHORT, "en")
    assert not advice.fits
    assert (
        advice.suggestions[0]
        == "Too long by 7 for Shorty: 47 of at most 40 (characters, every link counting as a fixed length)."
    )
    assert advice.suggestions[1].startswith("No hashtags")


def test_hashtags_questions_links_capitals_and_media() -> None:
    many = advise("Wow #a #b #c #d", SHORT, "de")
    assert many.suggestions[0] == "Too many hashtags: 4, at most 3 recommended for Shorty."
    assert "Add a question" in many.suggestions[-1]
    assert advise("Was meint ihr? #a", SHORT, "de").suggestions == ()
    assert advise("¿Qué opinas #a", SHORT, "es").suggestions == ()
    shouting = advise("DAS IST UNGLAUBLICH GUT? #a", SHORT, "de")
    assert shouting.suggestions == ("Mostly capital letters read as shouting: use normal case.",)
    pictures = advise("Sommer " * 50 + "? #a", PICTURES, "de")
    assert pictures.suggestions[0] == "Pics needs an image or a video with the post."
    assert pictures.suggestions[1].startswith("Longer than the recommended 300 for Pics")
    assert advise("", SHORT, "").suggestions == ("The text is empty.",)


def _history(slots: dict[tuple[int, int], list[int]], weeks_from: datetime) -> list[tuple[datetime, int]]:
    history = []
    for (weekday, hour), engagements in slots.items():
        for week, engagement in enumerate(engagements):
            day = weeks_from + timedelta(days=(weekday - weeks_from.weekday()) % 7, weeks=week)
            history.append((day.replace(hour=hour), engagement))
    return history


def test_a_slot_that_is_good_every_week_beats_one_lucky_post() -> None:
    monday = datetime(2026, 1, 5, tzinfo=UTC)
    history = _history(
        {
            (1, 9): [40, 45, 50, 42, 48],  # Tuesday 9:00, reliably good
            (4, 17): [400],  # Friday 17:00, one viral post
            (2, 12): [10, 12, 8, 11, 9, 10],
            (0, 8): [5, 6, 4, 5],
        },
        monday,
    )
    # The 90th percentile of the 16 engagements: position 0.9 x 15 = 13.5 of the sorted values,
    # halfway between 48 and 50 = 49.
    capped = [min(e, 49.0) for _, e in history]
    mean = sum(capped) / len(history)
    best = best_times(history, top=3)
    assert [(b.weekday, b.hour) for b in best] == [(1, 9), (4, 17)]
    friday = best[1]
    assert (friday.mean_engagement, friday.posts) == (400.0, 1)
    assert friday.score == pytest.approx((49 + 3 * mean) / 4)
    tuesday = next(b for b in best if (b.weekday, b.hour) == (1, 9))
    assert tuesday.posts == 5
    assert tuesday.mean_engagement == pytest.approx(45.0)
    assert tuesday.score == pytest.approx((224 + 3 * mean) / 8)  # its 50 counts as 49
    # Only slots above the account's mean are advised.
    assert all(b.score > mean for b in best)
    assert all((b.weekday, b.hour) not in {(2, 12), (0, 8)} for b in best)


def test_shrinkage_by_its_formula() -> None:
    t = datetime(2026, 1, 5, 10, tzinfo=UTC)  # a Monday
    history = [(t, 100), (t + timedelta(weeks=1), 100)] + [(t + timedelta(hours=h), 10) for h in range(1, 9)]
    mean = (200 + 80) / 10
    [best] = best_times(history, top=5)
    assert (best.weekday, best.hour, best.posts) == (0, 10, 2)
    assert best.score == pytest.approx((200 + 3 * mean) / 5)
    assert best.mean_engagement == 100.0


def test_equal_slots_are_ordered_by_weekday_and_hour() -> None:
    monday = datetime(2026, 1, 5, 10, tzinfo=UTC)
    good = [monday + timedelta(days=d, weeks=w) for d in (3, 0, 1) for w in range(2)]
    history = [(t, 100) for t in good] + [(monday + timedelta(hours=h), 10) for h in range(1, 13)]
    best = best_times(history, top=3)
    assert [(b.weekday, b.hour) for b in best] == [(0, 10), (1, 10), (3, 10)]
    assert best[0] == BestTimeData(0, 10, 100.0, 2, best[1].score)


def test_not_enough_history_or_nothing_above_average_gives_nothing() -> None:
    t = datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert best_times([(t + timedelta(hours=h), 10 * h) for h in range(9)]) == []
    assert best_times([(t + timedelta(hours=h), 7) for h in range(20)]) == []
    assert best_times([(t + timedelta(hours=h), 10 * h) for h in range(20)], top=0) == []
    with pytest.raises(InvalidInputError):
        best_times([], top=-1)


def test_times_are_utc_slots() -> None:
    berlin = timezone(timedelta(hours=1))
    history = [(datetime(2026, 1, 5, 10, tzinfo=berlin) + timedelta(weeks=w), 100) for w in range(3)]
    history += [(datetime(2026, 1, 6, 15, tzinfo=UTC) + timedelta(hours=h), 1) for h in range(10)]
    [best] = best_times(history, top=1)
    assert (best.weekday, best.hour) == (0, 9)
