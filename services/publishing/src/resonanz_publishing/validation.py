"""Validation of a CreatePost request against the loaded network plugins' manifests.

Each violation names the field (``targets[1].network``, ``variants[0].text``, ``media[2].type``) and,
where a network's rule is broken, the network. The core reads limits from manifests; it never names a
network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from resonanz.common.v1.content_pb2 import MediaItem
from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest
from resonanz_sdk.grpc import Validator
from resonanz_sdk.manifest import Feature, Manifest
from resonanz_sdk.text import count_text

from resonanz_publishing.convert import content_for_network, media_kind

MAX_LABELS = 50
MAX_LABEL_LENGTH = 100
MAX_ID_LENGTH = 64
MAX_ACCOUNT_LENGTH = 200
MAX_IDEMPOTENCY_KEY_LENGTH = 200
MAX_TEXT_LENGTH = 100_000


def validate_create_post(request: CreatePostRequest, manifests: Mapping[str, Manifest]) -> None:
    """Raise ``ValidationError`` with every violation of ``request``; return when it is valid.

    :param manifests: the manifests of the loaded network plugins, by network name.
    """
    v = Validator()
    v.max_length(request.text, MAX_TEXT_LENGTH, "text")
    v.max_length(request.campaign_id, MAX_ID_LENGTH, "campaign_id")
    v.max_length(request.idempotency_key, MAX_IDEMPOTENCY_KEY_LENGTH, "idempotency_key")
    v.require(len(request.labels) <= MAX_LABELS, "labels", f"at most {MAX_LABELS} labels")
    for i, label in enumerate(request.labels):
        v.non_empty(label, f"labels[{i}]")
        v.max_length(label, MAX_LABEL_LENGTH, f"labels[{i}]")
    _check_media_items(v, request.media, "media")
    for i, variant in enumerate(request.variants):
        _check_media_items(v, variant.media, f"variants[{i}].media")

    v.require(len(request.targets) > 0, "targets", "at least one target is required")
    usable: dict[str, Manifest] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, target in enumerate(request.targets):
        field = f"targets[{i}]"
        v.non_empty(target.account, f"{field}.account")
        v.max_length(target.account, MAX_ACCOUNT_LENGTH, f"{field}.account")
        if not target.network:
            v.require(False, f"{field}.network", "must not be empty")
            continue
        manifest = manifests.get(target.network)
        if manifest is None:
            v.require(False, f"{field}.network", f"no network plugin {target.network!r} is loaded")
            continue
        if not manifest.supports(Feature.PUBLISH):
            v.require(False, f"{field}.network", f"network {target.network!r} does not support publishing")
            continue
        pair = (target.network, target.account)
        if pair in seen:
            v.require(False, field, f"duplicate of targets[{seen[pair]}]")
            continue
        seen[pair] = i
        usable[target.network] = manifest

    variant_networks: dict[str, int] = {}
    target_networks = {t.network for t in request.targets}
    for i, variant in enumerate(request.variants):
        if variant.network in variant_networks:
            v.require(
                False, f"variants[{i}].network", f"duplicate of variants[{variant_networks[variant.network]}]"
            )
            continue
        variant_networks[variant.network] = i
        v.require(
            variant.network in target_networks,
            f"variants[{i}].network",
            f"no target on network {variant.network!r}",
        )

    for network, manifest in usable.items():
        _check_content(v, request, network, manifest)
    v.check()


def _check_media_items(v: Validator, items: Sequence[MediaItem], field: str) -> None:
    for j, item in enumerate(items):
        v.require(media_kind(item.type) is not None, f"{field}[{j}].type", "must be IMAGE, VIDEO or GIF")
        v.non_empty(item.uri, f"{field}[{j}].uri")
        v.require(item.size_bytes >= 0, f"{field}[{j}].size_bytes", "must not be negative")


def _check_content(v: Validator, request: CreatePostRequest, network: str, manifest: Manifest) -> None:
    """The text and media that go to ``network`` must fit its manifest."""
    text, media, variant_index = content_for_network(request.text, request.media, request.variants, network)
    if variant_index is not None and request.variants[variant_index].text:
        text_field = f"variants[{variant_index}].text"
    else:
        text_field = "text"
    if variant_index is not None and request.variants[variant_index].media:
        media_field = f"variants[{variant_index}].media"
    else:
        media_field = "media"

    v.require(
        bool(text.strip()) or bool(media), text_field, f"nothing to publish on {network}: no text, no media"
    )
    length = count_text(text, manifest.text)
    v.require(
        length <= manifest.text.max_length,
        text_field,
        f"is {length} characters as {network} counts them; {network} allows {manifest.text.max_length}",
    )
    rules = manifest.media
    v.require(
        len(media) <= rules.max_items,
        media_field,
        f"{len(media)} media items; {network} allows {rules.max_items}",
    )
    v.require(not rules.required or bool(media), media_field, f"{network} requires at least one media item")
    for j, item in enumerate(media):
        kind = media_kind(item.type)
        if kind is None:
            continue  # reported by _check_media_items
        if kind not in rules.allowed:
            v.require(False, f"{media_field}[{j}].type", f"{network} does not accept {kind.value} media")
            continue
        limit = rules.max_bytes.get(kind)
        v.require(
            limit is None or item.size_bytes <= limit,
            f"{media_field}[{j}].size_bytes",
            f"{item.size_bytes} bytes; {network} accepts at most {limit} bytes for {kind.value}",
        )
