"""Validation of a post (CreatePost, UpdatePost, ReplyToMention) against the loaded network plugins'
manifests and the workspace: connected accounts, stored media, campaigns, schedule, UTM parameters.

Each violation names the field (``targets[1].network``, ``variants[0].text``, ``media[2].type``) and,
where a network's rule is broken, the network. The core reads limits from manifests; it never names a
network. Every violation is reported at once.

The database lookups (accounts, media, campaign) are made by the caller and handed in as a
:class:`PostContext`, so these checks stay pure. Media given by ``id`` are replaced by the stored
items before the manifest checks, so their sizes and types are the stored ones, not the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from resonanz.common.v1.content_pb2 import AccountStatus, MediaItem, UtmParameters
from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest, ReplyToMentionRequest, TargetSpec
from resonanz_sdk.grpc import Validator
from resonanz_sdk.manifest import Feature, Manifest
from resonanz_sdk.text import count_text

from resonanz_publishing.convert import content_for_network, media_kind, now_utc, text_for_network
from resonanz_publishing.scheduling import Schedule, check_schedule
from resonanz_publishing.utm import MAX_UTM_FIELD_LENGTH, UTM_FIELDS

MEDIA_URI_PREFIX = "media://"

MAX_LABELS = 50
MAX_LABEL_LENGTH = 100
MAX_ID_LENGTH = 64
MAX_ACCOUNT_LENGTH = 200
MAX_IDEMPOTENCY_KEY_LENGTH = 200
MAX_TEXT_LENGTH = 100_000
MAX_IN_REPLY_TO_LENGTH = 200

_ACCOUNT_PROBLEMS: dict[int, str] = {
    AccountStatus.ACCOUNT_STATUS_NEEDS_REAUTH: "needs re-authentication: reconnect it",
    AccountStatus.ACCOUNT_STATUS_DISCONNECTED: "is disconnected: connect it again",
}


@dataclass(frozen=True)
class PostContext:
    """What the checks need from the database. ``None`` for a lookup means: not checked."""

    #: ``AccountStatus`` of the tenant's accounts among the targets, by (network, handle).
    accounts: Mapping[tuple[str, str], int] | None = None
    #: The tenant's stored media among the ids the request names, by id.
    media: Mapping[str, MediaItem] | None = None
    #: Whether ``campaign_id`` names a campaign of the tenant (ignored when it is empty).
    campaign_exists: bool = True
    #: The campaign's UTM defaults (``None``: no campaign, or not looked up).
    campaign_utm: UtmParameters | None = None
    now: datetime = field(default_factory=now_utc)
    #: Check the schedule's time window (off when re-checking a stored post before scheduling it).
    check_schedule: bool = True


def media_ids(request: CreatePostRequest) -> set[str]:
    """The stored-media ids a request names (``id``, or a ``media://<id>`` uri)."""
    out: set[str] = set()
    for item in [*request.media, *(m for variant in request.variants for m in variant.media)]:
        media_id = _stored_id(item)
        if media_id:
            out.add(media_id)
    return out


def _stored_id(item: MediaItem) -> str:
    if item.id and (not item.uri or item.uri == MEDIA_URI_PREFIX + item.id):
        return item.id
    if not item.id and item.uri.startswith(MEDIA_URI_PREFIX):
        return item.uri[len(MEDIA_URI_PREFIX) :]
    return ""


def validate_create_post(
    request: CreatePostRequest, manifests: Mapping[str, Manifest], context: PostContext | None = None
) -> tuple[CreatePostRequest, Schedule]:
    """Raise ``ValidationError`` with every violation of ``request``; return it with stored media
    filled in, and the schedule it asks for.

    :param manifests: the manifests of the loaded network plugins, by network name.
    """
    context = context or PostContext()
    request = _fill_media(request, context.media)
    v = Validator()
    schedule = check_schedule(v, request, context.now) if context.check_schedule else Schedule("now")
    for name, _ in UTM_FIELDS:
        v.max_length(getattr(request.utm, name), MAX_UTM_FIELD_LENGTH, f"utm.{name}")
    if request.campaign_id:
        v.require(
            context.campaign_exists, "campaign_id", f"no campaign {request.campaign_id!r} in this workspace"
        )
    _check_unknown_media(v, request, context.media)
    _check_fields(v, request)
    usable = _check_targets(v, request, manifests)
    _check_variants(v, request)
    if context.accounts is not None:
        for i, target in enumerate(request.targets):
            if target.network in usable and target.account:
                _check_account(v, context.accounts, target.network, target.account, f"targets[{i}].account")

    for network, manifest in usable.items():
        _check_content(v, request, network, manifest, context.campaign_utm)
    v.check()
    return request, schedule


def _check_fields(v: Validator, request: CreatePostRequest) -> None:
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


def _check_targets(
    v: Validator, request: CreatePostRequest, manifests: Mapping[str, Manifest]
) -> dict[str, Manifest]:
    """Targets must name loaded publishing networks, once each; the manifests of the usable ones."""
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

    return usable


def _check_variants(v: Validator, request: CreatePostRequest) -> None:
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


def validate_reply(
    request: ReplyToMentionRequest, manifests: Mapping[str, Manifest], context: PostContext
) -> CreatePostRequest:
    """Check a ReplyToMention request; the one-target post it becomes (media filled in)."""
    v = Validator()
    v.max_length(request.idempotency_key, MAX_IDEMPOTENCY_KEY_LENGTH, "idempotency_key")
    if v.non_empty(request.in_reply_to, "in_reply_to"):
        v.max_length(request.in_reply_to, MAX_IN_REPLY_TO_LENGTH, "in_reply_to")
    v.max_length(request.text, MAX_TEXT_LENGTH, "text")
    if v.non_empty(request.account, "account"):
        v.max_length(request.account, MAX_ACCOUNT_LENGTH, "account")
    manifest = manifests.get(request.network) if request.network else None
    if not request.network:
        v.add("network", "must not be empty")
    elif manifest is None:
        v.add("network", f"no network plugin {request.network!r} is loaded")
    elif not manifest.supports(Feature.REPLY):
        v.add("network", f"network {request.network!r} does not support replies")
    elif request.account and context.accounts is not None:
        _check_account(v, context.accounts, request.network, request.account, "account")
    v.check()
    post = CreatePostRequest(
        text=request.text,
        media=request.media,
        targets=[TargetSpec(network=request.network, account=request.account)],
        idempotency_key=request.idempotency_key,
    )
    # The reply's text and media must fit the network like any post's (fields as the reply names them).
    checked, _ = validate_create_post(
        post, manifests, PostContext(accounts=None, media=context.media, now=context.now)
    )
    return checked


def _check_account(
    v: Validator, accounts: Mapping[tuple[str, str], int], network: str, handle: str, field_name: str
) -> None:
    status = accounts.get((network, handle))
    if status is None:
        v.add(field_name, f"{network} account {handle!r} is not connected: connect it first")
    elif status != AccountStatus.ACCOUNT_STATUS_CONNECTED:
        problem = _ACCOUNT_PROBLEMS.get(status, "cannot be used")
        v.add(field_name, f"{network} account {handle!r} {problem}")


def _fill_media(request: CreatePostRequest, catalog: Mapping[str, MediaItem] | None) -> CreatePostRequest:
    """A copy of ``request`` whose stored media (by id) are the catalog's items."""
    if catalog is None:
        return request
    out = CreatePostRequest()
    out.CopyFrom(request)
    for items in [out.media, *(variant.media for variant in out.variants)]:
        for item in items:
            stored = catalog.get(_stored_id(item))
            if stored is None:
                continue
            alt_text = item.alt_text
            item.CopyFrom(stored)
            if alt_text:
                item.alt_text = alt_text
    return out


def _check_unknown_media(
    v: Validator, request: CreatePostRequest, catalog: Mapping[str, MediaItem] | None
) -> None:
    if catalog is None:
        return
    places = [("media", request.media)] + [
        (f"variants[{i}].media", variant.media) for i, variant in enumerate(request.variants)
    ]
    for prefix, items in places:
        for j, item in enumerate(items):
            media_id = _stored_id(item)
            if media_id and media_id not in catalog:
                v.add(f"{prefix}[{j}].id", f"no stored media {media_id!r} in this workspace: upload it first")


def _check_media_items(v: Validator, items: Sequence[MediaItem], field: str) -> None:
    for j, item in enumerate(items):
        v.require(media_kind(item.type) is not None, f"{field}[{j}].type", "must be IMAGE, VIDEO or GIF")
        v.non_empty(item.uri, f"{field}[{j}].uri")
        v.require(item.size_bytes >= 0, f"{field}[{j}].size_bytes", "must not be negative")


def _check_content(
    v: Validator,
    request: CreatePostRequest,
    network: str,
    manifest: Manifest,
    campaign_utm: UtmParameters | None,
) -> None:
    """The text (with its UTM parameters) and media that go to ``network`` must fit its manifest."""
    text, media, variant_index = content_for_network(request.text, request.media, request.variants, network)
    utm = request.utm if request.HasField("utm") else None
    text = text_for_network(text, utm, campaign_utm, network)
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
