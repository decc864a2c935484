"""Account credentials at rest: a Fernet key ring (first key encrypts, every key decrypts).

The ring comes from ``RESONANZ_CREDENTIAL_KEYS_FILE`` (one key per line or comma-separated; it wins)
or ``RESONANZ_CREDENTIAL_KEYS`` (comma-separated). Without either, a key is generated once into
``data_dir/credential-keys`` (mode 0600) so that the embedded default works out of the box; production
should configure its own keys. Key rotation: put a new key first, re-encrypt with :meth:`rotate`
(``AccountStore.rotate_all``), then drop the old key.

Nothing here ever logs, formats or raises with a key or a secret value in it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from resonanz_sdk.errors import ConfigurationError, FailedPreconditionError
from resonanz_sdk.settings import Settings

logger = logging.getLogger(__name__)

#: File under ``data_dir`` holding the generated key when none is configured.
GENERATED_KEY_FILE = "credential-keys"


class CredentialsUnreadableError(FailedPreconditionError):
    """A stored token that no key of the ring opens (its key was removed or never configured)."""


class CredentialCipher:
    """Encrypts a mapping of credential fields to a Fernet token and back."""

    def __init__(self, keys: Sequence[str], *, setting: str = "RESONANZ_CREDENTIAL_KEYS") -> None:
        if not keys:
            raise ConfigurationError(f"{setting} holds no key")
        fernets: list[Fernet] = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError, TypeError):
                raise ConfigurationError(
                    f"{setting}: key {position} is not a Fernet key (32 url-safe base64-encoded bytes; "
                    "make one with 'python -c \"from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())\"')"
                ) from None
        self._ring = MultiFernet(fernets)
        self._primary = fernets[0]
        self.key_count = len(fernets)

    def __repr__(self) -> str:
        return f"CredentialCipher(keys={self.key_count})"

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialCipher:
        if settings.credential_keys_file is not None:
            path = settings.credential_keys_file
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(
                    f"RESONANZ_CREDENTIAL_KEYS_FILE: cannot read {str(path)!r}: {exc.strerror}"
                ) from None
            return cls(_split_keys(text), setting="RESONANZ_CREDENTIAL_KEYS_FILE")
        configured = _split_keys(settings.credential_keys.get_secret_value())
        if configured:
            return cls(configured, setting="RESONANZ_CREDENTIAL_KEYS")
        return cls(_generated_keys(settings.data_dir), setting=str(settings.data_dir / GENERATED_KEY_FILE))

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, values: Mapping[str, str]) -> bytes:
        """A token of ``values`` as JSON, encrypted with the primary key."""
        return self._primary.encrypt(json.dumps(dict(values), sort_keys=True).encode("utf-8"))

    def decrypt(self, token: bytes) -> dict[str, str]:
        try:
            raw = self._ring.decrypt(token)
        except InvalidToken:
            raise CredentialsUnreadableError(
                "stored credentials cannot be decrypted: the credential key ring lacks the key they were "
                "encrypted with (restore that key in RESONANZ_CREDENTIAL_KEYS, or reconnect the account)"
            ) from None
        loaded = json.loads(raw)
        if not isinstance(loaded, dict):
            raise CredentialsUnreadableError("stored credentials are not a mapping of fields")
        return {str(k): str(v) for k, v in loaded.items()}

    def rotate(self, token: bytes) -> bytes:
        """``token`` re-encrypted with the primary key (readable by any key of the ring)."""
        try:
            return self._ring.rotate(token)
        except InvalidToken:
            raise CredentialsUnreadableError(
                "stored credentials cannot be re-encrypted: the credential key ring lacks the key they "
                "were encrypted with"
            ) from None


def _split_keys(text: str) -> list[str]:
    return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


def _generated_keys(data_dir: Path) -> list[str]:
    """The keys of ``data_dir/credential-keys``, generating the file (mode 0600) the first time."""
    path = data_dir / GENERATED_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = CredentialCipher.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(key + "\n")
            logger.warning(
                "no credential key configured: generated one in %s; set RESONANZ_CREDENTIAL_KEYS "
                "(or RESONANZ_CREDENTIAL_KEYS_FILE) in production",
                path,
            )
            return [key]
    keys = _split_keys(path.read_text(encoding="ascii"))
    logger.warning(
        "using the generated credential key in %s; set RESONANZ_CREDENTIAL_KEYS "
        "(or RESONANZ_CREDENTIAL_KEYS_FILE) in production",
        path,
    )
    return keys
