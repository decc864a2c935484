"""Validation of listening-query requests: every problem reported at once, each naming its field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from resonanz.common.v1.mention_pb2 import QueryRole
from resonanz.listening.v1.listening_service_pb2 import CreateQueryRequest
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator
from resonanz_sdk.manifest import Feature
from resonanz_sdk.network import Network

from resonanz_listening.languages import is_iso_639_1
from resonanz_listening.query import Node, parse

MAX_NAME = 200
MAX_LABEL = 200
MAX_LANGUAGES = 50


def _check_networks(v: Validator, names: Sequence[str], networks: Mapping[str, Network]) -> None:
    for i, name in enumerate(names):
        network = networks.get(name)
        if network is None:
            loaded = ", ".join(sorted(networks)) or "none"
            v.add(f"networks[{i}]", f"no network plugin {name!r} is loaded (loaded: {loaded})")
        elif not network.manifest.supports(Feature.SEARCH):
            v.add(f"networks[{i}]", f"network {name!r} does not support search")
    v.require(len(set(names)) == len(names), "networks", "must not repeat a network")


def validate_create(request: CreateQueryRequest, networks: Mapping[str, Network]) -> Node:
    """Check a CreateQuery request; returns the parsed expression or raises ValidationError."""
    v = Validator()
    if v.non_empty(request.name, "name"):
        v.max_length(request.name, MAX_NAME, "name")
    if v.non_empty(request.label, "label"):
        v.max_length(request.label, MAX_LABEL, "label")
    node: Node | None = None
    if v.non_empty(request.expression, "expression"):
        try:
            node = parse(request.expression)
        except ValidationError as exc:
            for violation in exc.violations:
                v.add(violation.field, violation.description)
    v.require(len(request.languages) <= MAX_LANGUAGES, "languages", f"at most {MAX_LANGUAGES} languages")
    for i, code in enumerate(request.languages):
        v.require(is_iso_639_1(code), f"languages[{i}]", f"{code!r} is not a lower-case ISO 639-1 code")
    _check_networks(v, list(request.networks), networks)
    v.require(request.role in QueryRole.values(), "role", f"unknown role {request.role}")
    v.check()
    assert node is not None  # a missing expression was reported above
    return node
