"""Collect every problem of a request, then refuse it once with all field violations.

v = Validator()
v.non_empty(request.label, "label")
size = v.page_size(request.page_size, "page_size")
v.check()   # raises ValidationError -> INVALID_ARGUMENT with google.rpc.BadRequest
"""

from __future__ import annotations

from resonanz_sdk.errors import FieldViolation, ValidationError
from resonanz_sdk.grpc.page_token import decode as _decode_page_token

__all__ = ["DEFAULT_PAGE_SIZE", "Validator"]

#: Page size used when a request leaves ``page_size`` at 0.
DEFAULT_PAGE_SIZE = 50


class Validator:
    """Accumulates field violations; :meth:`check` raises them all together."""

    def __init__(self) -> None:
        self._violations: list[FieldViolation] = []

    @property
    def violations(self) -> tuple[FieldViolation, ...]:
        return tuple(self._violations)

    def add(self, field: str, description: str) -> None:
        """Record a violation unconditionally."""
        self._violations.append(FieldViolation(field, description))

    def require(self, condition: bool, field: str, description: str) -> bool:
        """Record a violation of ``field`` unless ``condition`` holds; returns ``condition``."""
        if not condition:
            self.add(field, description)
        return condition

    def non_empty(self, value: str, field: str) -> bool:
        """The string must contain something other than whitespace."""
        return self.require(bool(value.strip()), field, "must not be empty")

    def max_length(self, value: str, n: int, field: str) -> bool:
        """The string must be at most ``n`` characters (code points) long."""
        return self.require(len(value) <= n, field, f"must be at most {n} characters (is {len(value)})")

    def page_size(self, value: int, field: str, max: int = 500, *, default: int = DEFAULT_PAGE_SIZE) -> int:
        """The page size to use: 0 means ``default``, above ``max`` is ``max``, negative is refused."""
        if not self.require(value >= 0, field, "must not be negative"):
            return min(default, max)
        if value == 0:
            return min(default, max)
        return min(value, max)

    def page_token(self, token: str, field: str) -> str:
        """The position in a page token (``""``: first page); a bad token is recorded, ``""`` returned."""
        try:
            return _decode_page_token(token, field)
        except ValidationError as exc:
            self._violations.extend(exc.violations)
            return ""

    def check(self) -> None:
        """Raise ValidationError with every violation recorded so far (nothing when there is none)."""
        if self._violations:
            raise ValidationError(self._violations)
