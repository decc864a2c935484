"""How Resonanz connects to a secured Kafka: TLS, SASL (PLAIN, SCRAM) or both, from ``RESONANZ_KAFKA_*``.

``kafka_client_options(settings)`` turns the settings into the keyword arguments every aiokafka client
takes (producer, consumer, admin); :class:`~resonanz_sdk.eventbus.EventProducer`,
:class:`~resonanz_sdk.eventbus.EventConsumer` and :func:`~resonanz_sdk.eventbus.ensure_topics` accept
them as ``client_options``::

    options = kafka_client_options(settings)  # raises ConfigurationError on a bad combination
    producer = EventProducer(settings.kafka_bootstrap, client_options=options)

Settings that contradict each other (a SASL user with ``PLAINTEXT``, a CA file without TLS, a SASL
protocol without a mechanism) are refused at start-up, naming the ``RESONANZ_`` variable, rather than
silently ignored.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context

from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.settings import Settings

__all__ = ["SASL_MECHANISMS", "SECURITY_PROTOCOLS", "kafka_client_options"]

#: Values of ``RESONANZ_KAFKA_SECURITY_PROTOCOL``.
SECURITY_PROTOCOLS: tuple[str, ...] = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: Values of ``RESONANZ_KAFKA_SASL_MECHANISM`` (the username/password mechanisms aiokafka supports).
SASL_MECHANISMS: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

_PROTOCOL = "RESONANZ_KAFKA_SECURITY_PROTOCOL"
_MECHANISM = "RESONANZ_KAFKA_SASL_MECHANISM"
_USERNAME = "RESONANZ_KAFKA_SASL_USERNAME"
_PASSWORD = "RESONANZ_KAFKA_SASL_PASSWORD"
_CAFILE = "RESONANZ_KAFKA_SSL_CAFILE"
_CERTFILE = "RESONANZ_KAFKA_SSL_CERTFILE"
_KEYFILE = "RESONANZ_KAFKA_SSL_KEYFILE"


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """The aiokafka keyword arguments for the configured security protocol.

    ``PLAINTEXT`` gives ``{"security_protocol": "PLAINTEXT"}``; ``SSL`` and ``SASL_SSL`` add an
    ``ssl_context`` (the system CAs, or ``RESONANZ_KAFKA_SSL_CAFILE``; a client certificate for mutual
    TLS); ``SASL_*`` add the mechanism, user name and password. Raises :class:`ConfigurationError`
    naming the variable when a value is unknown, missing or contradicts the protocol.
    """
    protocol = settings.kafka_security_protocol.strip().upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigurationError(
            f"{_PROTOCOL}={settings.kafka_security_protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}"
        )
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        options.update(_sasl_options(settings, protocol))
    else:
        for variable, value in (
            (_MECHANISM, settings.kafka_sasl_mechanism),
            (_USERNAME, settings.kafka_sasl_username),
            (_PASSWORD, settings.kafka_sasl_password.get_secret_value()),
        ):
            if value:
                raise ConfigurationError(
                    f"{variable} is set but {_PROTOCOL}={protocol} does not use SASL "
                    "(use SASL_PLAINTEXT or SASL_SSL)"
                )
    if protocol.endswith("SSL"):
        options["ssl_context"] = _ssl_context(settings)
    else:
        for variable, path in (
            (_CAFILE, settings.kafka_ssl_cafile),
            (_CERTFILE, settings.kafka_ssl_certfile),
            (_KEYFILE, settings.kafka_ssl_keyfile),
        ):
            if path is not None:
                raise ConfigurationError(
                    f"{variable} is set but {_PROTOCOL}={protocol} does not use TLS (use SSL or SASL_SSL)"
                )
    return options


def _sasl_options(settings: Settings, protocol: str) -> dict[str, Any]:
    mechanism = settings.kafka_sasl_mechanism.strip().upper()
    if not mechanism:
        raise ConfigurationError(
            f"{_PROTOCOL}={protocol} needs {_MECHANISM} (one of {', '.join(SASL_MECHANISMS)})"
        )
    if mechanism not in SASL_MECHANISMS:
        raise ConfigurationError(
            f"{_MECHANISM}={settings.kafka_sasl_mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}"
        )
    username = settings.kafka_sasl_username
    password = settings.kafka_sasl_password.get_secret_value()
    if not username:
        raise ConfigurationError(f"{_PROTOCOL}={protocol} needs {_USERNAME}")
    if not password:
        raise ConfigurationError(f"{_PROTOCOL}={protocol} needs {_PASSWORD}")
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


def _no_password() -> bytes:
    return b""


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    cafile, certfile, keyfile = (
        settings.kafka_ssl_cafile,
        settings.kafka_ssl_certfile,
        settings.kafka_ssl_keyfile,
    )
    if keyfile is not None and certfile is None:
        raise ConfigurationError(f"{_KEYFILE} is set without {_CERTFILE} (the client certificate)")
    for variable, path in ((_CAFILE, cafile), (_CERTFILE, certfile), (_KEYFILE, keyfile)):
        if path is not None and not Path(path).is_file():
            raise ConfigurationError(f"{variable}={str(path)!r} is not a readable file")
    try:
        context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"{_CAFILE}={str(cafile)!r} holds no usable CA certificate: {exc}") from exc
    if certfile is not None:
        try:
            # An encrypted key is refused rather than prompting for its password on the terminal.
            context.load_cert_chain(certfile=certfile, keyfile=keyfile, password=_no_password)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"{_CERTFILE}={str(certfile)!r} and {_KEYFILE}={str(keyfile)!r} are not a usable client "
                f"certificate and key: {exc}"
            ) from exc
    return context
