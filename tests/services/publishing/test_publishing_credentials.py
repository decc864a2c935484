"""The credential key ring: encryption at rest, rotation, key sources and the generated default key."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from resonanz_publishing.credentials import GENERATED_KEY_FILE, CredentialCipher, CredentialsUnreadableError
from resonanz_sdk.errors import ConfigurationError, FailedPreconditionError
from resonanz_sdk.settings import Settings

SECRET = "s3cr3t-access-token-value"


def settings(tmp_path: Path, keys: str = "", keys_file: Path | None = None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", credential_keys=SecretStr(keys), credential_keys_file=keys_file
    )


def test_round_trip_and_the_token_is_not_the_plaintext() -> None:
    cipher = CredentialCipher([CredentialCipher.generate_key()])
    token = cipher.encrypt({"access_token": SECRET, "user": "acme"})
    assert SECRET.encode() not in token
    assert b"access_token" not in token
    assert cipher.decrypt(token) == {"access_token": SECRET, "user": "acme"}


def test_rotation_keeps_tokens_readable_and_then_works_without_the_old_key() -> None:
    old_key, new_key = CredentialCipher.generate_key(), CredentialCipher.generate_key()
    token = CredentialCipher([old_key]).encrypt({"token": SECRET})
    ring = CredentialCipher([new_key, old_key])
    assert ring.decrypt(token) == {"token": SECRET}
    rotated = ring.rotate(token)
    assert rotated != token
    assert CredentialCipher([new_key]).decrypt(rotated) == {"token": SECRET}
    with pytest.raises(CredentialsUnreadableError):
        CredentialCipher([new_key]).decrypt(token)


def test_a_token_of_an_unknown_key_says_the_key_ring_lacks_the_key() -> None:
    token = CredentialCipher([CredentialCipher.generate_key()]).encrypt({"token": SECRET})
    other = CredentialCipher([CredentialCipher.generate_key()])
    with pytest.raises(CredentialsUnreadableError) as caught:
        other.decrypt(token)
    assert isinstance(caught.value, FailedPreconditionError)
    assert "key ring lacks the key" in str(caught.value)
    assert SECRET not in str(caught.value)
    with pytest.raises(CredentialsUnreadableError):
        other.rotate(token)


def test_keys_from_the_setting_first_encrypts_all_decrypt(tmp_path: Path) -> None:
    first, second = CredentialCipher.generate_key(), CredentialCipher.generate_key()
    cipher = CredentialCipher.from_settings(settings(tmp_path, f" {first} , {second} "))
    assert cipher.key_count == 2
    token = cipher.encrypt({"token": SECRET})
    assert CredentialCipher([first]).decrypt(token) == {"token": SECRET}
    old = CredentialCipher([second]).encrypt({"token": "old"})
    assert cipher.decrypt(old) == {"token": "old"}
    assert not (tmp_path / "data" / GENERATED_KEY_FILE).exists()


def test_the_key_file_wins_over_the_setting(tmp_path: Path) -> None:
    k1, k2, k3, ignored = (CredentialCipher.generate_key() for _ in range(4))
    key_file = tmp_path / "keys"
    key_file.write_text(f"{k1}\n\n{k2},{k3}\n")
    cipher = CredentialCipher.from_settings(settings(tmp_path, ignored, key_file))
    assert cipher.key_count == 3
    assert CredentialCipher([k1]).decrypt(cipher.encrypt({"a": "b"})) == {"a": "b"}
    with pytest.raises(CredentialsUnreadableError):
        cipher.decrypt(CredentialCipher([ignored]).encrypt({"a": "b"}))


def test_a_malformed_key_names_the_setting_but_not_the_key(tmp_path: Path) -> None:
    bad = "not-a-fernet-key-but-something-secret"
    good = CredentialCipher.generate_key()
    with pytest.raises(ConfigurationError) as caught:
        CredentialCipher.from_settings(settings(tmp_path, f"{good},{bad}"))
    message = str(caught.value)
    assert "RESONANZ_CREDENTIAL_KEYS" in message
    assert "key 2" in message
    assert bad not in message
    assert good not in message

    key_file = tmp_path / "keys"
    key_file.write_text(bad + "\n")
    with pytest.raises(ConfigurationError) as caught:
        CredentialCipher.from_settings(settings(tmp_path, keys_file=key_file))
    assert "RESONANZ_CREDENTIAL_KEYS_FILE" in str(caught.value)
    assert bad not in str(caught.value)


def test_a_missing_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="RESONANZ_CREDENTIAL_KEYS_FILE"):
        CredentialCipher.from_settings(settings(tmp_path, keys_file=tmp_path / "absent"))


def test_without_keys_one_is_generated_once_with_mode_0600_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = CredentialCipher.from_settings(settings(tmp_path))
    key_file = tmp_path / "data" / GENERATED_KEY_FILE
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_text()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings
    assert "RESONANZ_CREDENTIAL_KEYS" in warnings[0].getMessage()

    token = first.encrypt({"token": SECRET})
    second = CredentialCipher.from_settings(settings(tmp_path))
    assert key_file.read_text() == content  # reused, not regenerated
    assert second.decrypt(token) == {"token": SECRET}
    key = content.strip()
    assert key not in caplog.text
    assert SECRET not in caplog.text


def test_reprs_hold_no_key() -> None:
    key = CredentialCipher.generate_key()
    cipher = CredentialCipher([key])
    assert key not in repr(cipher)
    assert key not in str(cipher)
