"""Unit tests of UTM parameters on links (utm.py) and their use in publish requests (convert.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from resonanz.common.v1.content_pb2 import UtmParameters
from resonanz_publishing.convert import publish_requested
from resonanz_publishing.models import PostRow, TargetRow
from resonanz_publishing.utm import apply_utm, effective_utm, tag_url, utm_to_json

U = UtmParameters


def test_no_utm_at_all_without_post_or_campaign_fields() -> None:
    assert effective_utm(None, None, "mastodon") is None
    assert effective_utm(U(), U(), "mastodon") is None
    assert apply_utm("https://example.com/a", None) == "https://example.com/a"


def test_defaults_and_precedence() -> None:
    utm = effective_utm(U(content="c1"), U(campaign="spring", medium="paid"), "mastodon")
    assert utm == U(source="mastodon", medium="paid", campaign="spring", content="c1")
    utm = effective_utm(U(campaign="own"), U(campaign="spring"), "bluesky")
    assert utm == U(source="bluesky", medium="social", campaign="own")


def test_links_get_parameters_keeping_query_fragment_and_punctuation() -> None:
    utm = U(source="net", medium="social", campaign="spring sale")
    text = "Neu: https://example.com/shop?id=7#top. Mehr (https://example.com/wiki/A_(b)) und http://x.de!"
    assert apply_utm(text, utm) == (
        "Neu: https://example.com/shop?id=7&utm_source=net&utm_medium=social&utm_campaign=spring%20sale#top. "
        "Mehr (https://example.com/wiki/A_(b)?utm_source=net&utm_medium=social&utm_campaign=spring%20sale) "
        "und http://x.de/?utm_source=net&utm_medium=social&utm_campaign=spring%20sale!"
    )


def test_existing_utm_parameters_win_and_other_text_is_untouched() -> None:
    params = [("utm_source", "net"), ("utm_medium", "social")]
    assert (
        tag_url("https://e.com/?utm_source=mail", params)
        == "https://e.com/?utm_source=mail&utm_medium=social"
    )
    assert (
        tag_url("https://e.com/?utm_source=a&utm_medium=b", params)
        == "https://e.com/?utm_source=a&utm_medium=b"
    )
    assert apply_utm("kein Link, ftp://e.com bleibt", U(source="x")) == "kein Link, ftp://e.com bleibt"


def _post(**kwargs: object) -> tuple[PostRow, TargetRow]:
    now = datetime.now(UTC)
    post = PostRow(
        id="p1", tenant="acme", text="Lies https://example.com/a", media=[], variants=[], campaign_id="",
        labels=[], status=4, scheduled_at=now, created_at=now, updated_at=now, utm={}, in_reply_to="",
        **kwargs,
    )  # fmt: skip
    target = TargetRow(network="testnet", account="@acme", status=1, attempts=0, position=0)
    return post, target


def test_publish_requested_applies_utm_per_network_and_carries_the_reply_id() -> None:
    post, target = _post()
    assert publish_requested(post, target, None).text == "Lies https://example.com/a"
    request = publish_requested(post, target, U(campaign="spring"))
    assert (
        request.text == "Lies https://example.com/a?utm_source=testnet&utm_medium=social&utm_campaign=spring"
    )
    post.utm = utm_to_json(U(source="own"))
    post.in_reply_to = "ext-42"
    request = publish_requested(post, target, None)
    assert request.text == "Lies https://example.com/a?utm_source=own&utm_medium=social"
    assert request.in_reply_to == "ext-42"
