"""UTM campaign-tracking parameters added to the http(s) links of a post's text.

Which parameters a target gets (:func:`effective_utm`): the post's own fields win over its campaign's
defaults; an empty ``source`` is the network's name, an empty ``medium`` is ``social``. A post whose
own UTM and whose campaign's UTM are both empty gets no parameters at all (its links are left alone).

How they are added (:func:`apply_utm`): to every ``http://`` / ``https://`` URL in the text, after its
existing query parameters, keeping those as they are (also an ``utm_*`` parameter already in the
link: it wins), before the fragment. Punctuation that ends a sentence right after a URL (``.``, ``,``,
``!``, a closing bracket without an opening one in the URL, ...) is not part of the URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

from google.protobuf import json_format
from resonanz.common.v1.content_pb2 import UtmParameters

#: The protobuf fields in the order their parameters are appended, and the parameter names.
UTM_FIELDS: tuple[tuple[str, str], ...] = (
    ("source", "utm_source"),
    ("medium", "utm_medium"),
    ("campaign", "utm_campaign"),
    ("term", "utm_term"),
    ("content", "utm_content"),
)
MAX_UTM_FIELD_LENGTH = 200
DEFAULT_MEDIUM = "social"

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*_~"
_BRACKETS = {")": "(", "]": "[", "}": "{", ">": "<"}


def has_any(utm: UtmParameters | None) -> bool:
    """True when at least one field of ``utm`` is set."""
    return utm is not None and any(getattr(utm, name) for name, _ in UTM_FIELDS)


def utm_from_json(value: Mapping[str, Any] | None) -> UtmParameters:
    """A stored ``utm`` JSON object (protobuf JSON mapping) as a message; ``{}``/``None`` is empty."""
    return json_format.ParseDict(dict(value or {}), UtmParameters())


def utm_to_json(utm: UtmParameters) -> dict[str, Any]:
    return json_format.MessageToDict(utm, preserving_proto_field_name=True)


def effective_utm(
    post_utm: UtmParameters | None, campaign_utm: UtmParameters | None, network: str
) -> UtmParameters | None:
    """The parameters for links going to ``network``; ``None`` when neither post nor campaign has any."""
    if not has_any(post_utm) and not has_any(campaign_utm):
        return None
    out = UtmParameters()
    for name, _ in UTM_FIELDS:
        value = (getattr(post_utm, name) if post_utm is not None else "") or (
            getattr(campaign_utm, name) if campaign_utm is not None else ""
        )
        setattr(out, name, value)
    if not out.source:
        out.source = network
    if not out.medium:
        out.medium = DEFAULT_MEDIUM
    return out


def apply_utm(text: str, utm: UtmParameters | None) -> str:
    """``text`` with the parameters of ``utm`` added to every http(s) link; unchanged for ``None``."""
    if utm is None or not has_any(utm):
        return text
    params = [(param, getattr(utm, name)) for name, param in UTM_FIELDS if getattr(utm, name)]
    return _URL.sub(lambda m: _tag_match(m.group(0), params), text)


def _tag_match(candidate: str, params: list[tuple[str, str]]) -> str:
    url, tail = _split_trailing(candidate)
    if "://" not in url or len(url.split("://", 1)[1]) == 0:
        return candidate
    return tag_url(url, params) + tail


def _split_trailing(candidate: str) -> tuple[str, str]:
    """Split sentence punctuation and unbalanced closing brackets off the end of a URL match."""
    end = len(candidate)
    while end > 0:
        ch = candidate[end - 1]
        if ch in _TRAILING:
            end -= 1
            continue
        opener = _BRACKETS.get(ch)
        if opener is not None and candidate[:end].count(opener) < candidate[:end].count(ch):
            end -= 1
            continue
        break
    return candidate[:end], candidate[end:]


def tag_url(url: str, params: list[tuple[str, str]]) -> str:
    """``url`` with ``params`` appended to its query, skipping names the query already has."""
    base, hash_sign, fragment = url.partition("#")
    path, _, query = base.partition("?")
    present = {name.lower() for name, _ in parse_qsl(query, keep_blank_values=True)}
    added = [f"{name}={quote(value, safe='')}" for name, value in params if name.lower() not in present]
    if not added:
        return url
    if "/" not in path.split("://", 1)[-1]:
        path += "/"  # https://example.com -> https://example.com/?utm_...
    if query and not query.endswith("&"):
        query += "&"
    query += "&".join(added)
    return f"{path}?{query}" + (hash_sign + fragment if hash_sign else "")
