"""Unit tests of the publishing service's pure rules: validation, post status, backoff, conversions."""

from __future__ import annotations

import random

import pytest
from resonanz.common.v1.content_pb2 import MediaItem, MediaType, NetworkVariant, PostStatus, TargetStatus
from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest, TargetSpec
from resonanz_publishing.convert import content_for_network, media_to_sdk
from resonanz_publishing.retry import BackoffPolicy
from resonanz_publishing.status import post_status_from_targets
from resonanz_publishing.validation import validate_create_post
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.manifest import Feature, Manifest, MediaKind, MediaRules, TextCounting, TextRules

T = TargetStatus
P = PostStatus

MANIFESTS = {
    "short": Manifest(
        network="short",
        display_name="Short",
        features=frozenset({Feature.PUBLISH}),
        text=TextRules(max_length=30, counting=TextCounting.CODE_POINTS_URLS_FIXED, url_length=23),
        media=MediaRules(
            max_items=2, allowed=frozenset({MediaKind.IMAGE}), max_bytes={MediaKind.IMAGE: 1000}
        ),
    ),
    "pictures": Manifest(
        network="pictures",
        display_name="Pictures",
        features=frozenset({Feature.PUBLISH}),
        text=TextRules(max_length=2200),
        media=MediaRules(max_items=10, allowed=frozenset({MediaKind.IMAGE, MediaKind.VIDEO}), required=True),
    ),
    "readonly": Manifest(
        network="readonly",
        display_name="Read only",
        features=frozenset({Feature.SEARCH}),
        text=TextRules(max_length=500),
    ),
}


def image(size: int = 10, kind: int = MediaType.MEDIA_TYPE_IMAGE) -> MediaItem:
    return MediaItem(id="m", type=kind, uri="media://m", size_bytes=size)  # type: ignore[arg-type]


def request(text: str = "Hallo", *targets: str, **kwargs: object) -> CreatePostRequest:
    specs = [TargetSpec(network=t.split(":")[0], account=t.split(":")[1]) for t in targets or ("short:@a",)]
    return CreatePostRequest(text=text, targets=specs, **kwargs)  # type: ignore[arg-type]


def violations(req: CreatePostRequest) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        validate_create_post(req, MANIFESTS)
    return {v.field: v.description for v in info.value.violations}


def test_a_valid_request_passes() -> None:
    validate_create_post(request("Neu: https://example.com/a/very/long/link/that/counts/as/23"), MANIFESTS)
    validate_create_post(request("Bild", "pictures:@a", media=[image()]), MANIFESTS)


def test_targets_are_required_and_must_name_loaded_publishing_networks() -> None:
    assert "targets" in violations(CreatePostRequest(text="x"))
    found = violations(request("x", "short:@a", "nowhere:@b", "readonly:@c", ":@d", "short:"))
    assert "nowhere" in found["targets[1].network"]
    assert "does not support publishing" in found["targets[2].network"]
    assert found["targets[3].network"] == "must not be empty"
    assert found["targets[4].account"] == "must not be empty"
    assert "duplicate of targets[0]" in violations(request("x", "short:@a", "short:@a"))["targets[1]"]


def test_text_is_counted_the_way_the_network_counts_it() -> None:
    found = violations(request("x" * 31))
    assert found["text"] == "is 31 characters as short counts them; short allows 30"
    # A URL counts as 23 on "short", however long it is.
    validate_create_post(request("abcdef " + "https://example.com/" + "x" * 200), MANIFESTS)


def test_variant_text_is_checked_against_its_network_and_named() -> None:
    req = request("fits everywhere", "short:@a", "pictures:@b", media=[image()])
    req.variants.append(NetworkVariant(network="pictures", text="ok"))
    req.variants.append(NetworkVariant(network="short", text="y" * 40))
    found = violations(req)
    assert set(found) == {"variants[1].text"}
    assert "short" in found["variants[1].text"]


def test_variants_must_match_a_target_network_once() -> None:
    req = request("x", "short:@a")
    req.variants.append(NetworkVariant(network="pictures", text="p"))
    req.variants.append(NetworkVariant(network="pictures", text="q"))
    found = violations(req)
    assert "no target on network 'pictures'" in found["variants[0].network"]
    assert "duplicate of variants[0]" in found["variants[1].network"]


def test_media_rules_of_each_network() -> None:
    found = violations(request("x", media=[image(), image(), image()]))
    assert "short allows 2" in found["media"]
    found = violations(request("x", media=[image(kind=MediaType.MEDIA_TYPE_VIDEO)]))
    assert "does not accept video" in found["media[0].type"]
    found = violations(request("x", media=[image(size=5000)]))
    assert "at most 1000 bytes" in found["media[0].size_bytes"]
    found = violations(request("x", media=[image(kind=MediaType.MEDIA_TYPE_UNSPECIFIED)]))
    assert "media[0].type" in found
    assert "requires at least one media item" in violations(request("x", "pictures:@a"))["media"]


def test_every_violation_is_reported_at_once() -> None:
    found = violations(request("x" * 40, "short:@a", "nowhere:@b", labels=[""]))
    assert {"text", "targets[1].network", "labels[0]"} <= set(found)


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ([T.TARGET_STATUS_PENDING, T.TARGET_STATUS_PENDING], P.POST_STATUS_SCHEDULED),
        ([T.TARGET_STATUS_QUEUED, T.TARGET_STATUS_PENDING], P.POST_STATUS_PUBLISHING),
        ([T.TARGET_STATUS_PUBLISHED, T.TARGET_STATUS_PUBLISHING], P.POST_STATUS_PUBLISHING),
        ([T.TARGET_STATUS_PUBLISHED, T.TARGET_STATUS_PENDING], P.POST_STATUS_PUBLISHING),
        ([T.TARGET_STATUS_PUBLISHED, T.TARGET_STATUS_PUBLISHED], P.POST_STATUS_PUBLISHED),
        ([T.TARGET_STATUS_PUBLISHED, T.TARGET_STATUS_FAILED], P.POST_STATUS_PARTLY_PUBLISHED),
        ([T.TARGET_STATUS_FAILED, T.TARGET_STATUS_FAILED], P.POST_STATUS_FAILED),
        ([T.TARGET_STATUS_FAILED, T.TARGET_STATUS_CANCELLED], P.POST_STATUS_FAILED),
        ([T.TARGET_STATUS_CANCELLED], P.POST_STATUS_CANCELLED),
    ],
)
def test_post_status_from_targets(targets: list[int], expected: int) -> None:
    assert post_status_from_targets(targets) == expected


def test_post_status_needs_targets() -> None:
    with pytest.raises(ValueError, match="at least one target"):
        post_status_from_targets([])


def test_backoff_grows_exponentially_is_capped_and_honours_retry_after() -> None:
    policy = BackoffPolicy(max_attempts=5, base_seconds=1.0, max_seconds=10.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        delays = [policy.delay(attempt, rng=rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays)
        assert max(delays) <= ceiling
        assert len(set(delays)) > 100  # jittered
    assert policy.delay(1, retry_after=7.5, rng=rng) == 7.5
    assert policy.delay(1, retry_after=600, rng=rng) == 10.0
    assert not policy.gives_up_after(4)
    assert policy.gives_up_after(5)
    with pytest.raises(ValueError, match="from 1"):
        policy.delay(0)


def test_content_for_network_applies_the_variant() -> None:
    media = [image()]
    variants = [NetworkVariant(network="a", text="A"), NetworkVariant(network="b", media=[image(size=1)])]
    assert content_for_network("default", media, variants, "a") == ("A", media, 0)
    text, chosen, index = content_for_network("default", media, variants, "b")
    assert (text, index) == ("default", 1)
    assert chosen[0].size_bytes == 1
    assert content_for_network("default", media, variants, "c") == ("default", media, None)


def test_media_to_sdk() -> None:
    (converted,) = media_to_sdk([image(size=42)])
    assert converted.kind is MediaKind.IMAGE
    assert converted.size_bytes == 42
    with pytest.raises(ValueError, match="no type"):
        media_to_sdk([image(kind=MediaType.MEDIA_TYPE_UNSPECIFIED)])
