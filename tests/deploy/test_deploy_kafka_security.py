"""Kafka security settings: the aiokafka options each protocol gives, the refusals naming the variable,
a real TLS handshake with the context they build (mutual TLS, our own CA), and the PLAINTEXT options
against the real broker."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from resonanz.events.v1 import events_pb2
from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.eventbus import (
    SASL_MECHANISMS,
    EventConsumer,
    EventProducer,
    ReceivedEvent,
    ensure_topics,
    kafka_client_options,
    new_envelope,
)
from resonanz_sdk.settings import Settings


def settings(**values: Any) -> Settings:
    return Settings(kafka_bootstrap="broker:9092", **values)


# -- a CA, a broker certificate and a client certificate, made here --------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def _issue(
    path: Path,
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    sans: Sequence[x509.GeneralName] = (),
) -> Path:
    now = datetime.now(UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    certificate = builder.sign(issuer_key, hashes.SHA256())
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = ("Resonanz Test CA", ca_key)
    return Pki(
        ca=_issue(directory / "ca.pem", ca[0], ca_key, None),
        server_cert=_issue(
            directory / "broker.pem",
            "localhost",
            server_key,
            ca,
            sans=[x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))],
        ),
        server_key=_write_key(directory / "broker-key.pem", server_key),
        client_cert=_issue(directory / "client.pem", "resonanz-client", client_key, ca),
        client_key=_write_key(directory / "client-key.pem", client_key),
    )


# -- the options of each protocol --------------------------------------------------------------------


def test_plaintext_is_the_default_and_adds_nothing_else() -> None:
    assert kafka_client_options(settings()) == {"security_protocol": "PLAINTEXT"}
    assert kafka_client_options(settings(kafka_security_protocol=" plaintext ")) == {
        "security_protocol": "PLAINTEXT"
    }


@pytest.mark.parametrize("mechanism", SASL_MECHANISMS)
def test_sasl_plaintext_passes_mechanism_user_and_password(mechanism: str) -> None:
    options = kafka_client_options(
        settings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism=mechanism.lower(),
            kafka_sasl_username="resonanz",
            kafka_sasl_password=SecretStr("s3cret"),
        )
    )
    assert options == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "resonanz",
        "sasl_plain_password": "s3cret",
    }


def test_ssl_without_a_ca_file_verifies_against_the_system_cas() -> None:
    options = kafka_client_options(settings(kafka_security_protocol="SSL"))
    assert set(options) == {"security_protocol", "ssl_context"}
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_sasl_ssl_combines_both(pki: Pki) -> None:
    options = kafka_client_options(
        settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="resonanz",
            kafka_sasl_password=SecretStr("s3cret"),
            kafka_ssl_cafile=pki.ca,
        )
    )
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("resonanz", "s3cret")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert [dict(entry[0] for entry in ca["subject"]) for ca in context.get_ca_certs()] == [
        {"commonName": "Resonanz Test CA"}
    ]


async def _handshake(pki: Pki, client: ssl.SSLContext) -> str:
    """Connect ``client`` to a TLS server with the broker certificate that requires a client
    certificate from the test CA; returns the client certificate's common name the server saw."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    server_context.load_cert_chain(pki.server_cert, pki.server_key)
    server_context.verify_mode = ssl.CERT_REQUIRED
    seen: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert")
        seen.set_result(dict(entry[0] for entry in peer["subject"])["commonName"])
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname="localhost"
        )
        name = await asyncio.wait_for(seen, 10)
        writer.close()
        await writer.wait_closed()
        return name
    finally:
        server.close()
        await server.wait_closed()


async def test_mutual_tls_context_completes_a_real_handshake(pki: Pki) -> None:
    options = kafka_client_options(
        settings(
            kafka_security_protocol="SSL",
            kafka_ssl_cafile=pki.ca,
            kafka_ssl_certfile=pki.client_cert,
            kafka_ssl_keyfile=pki.client_key,
        )
    )
    assert await _handshake(pki, options["ssl_context"]) == "resonanz-client"

    # Without the CA file the broker's certificate is not trusted: the handshake fails.
    untrusting = kafka_client_options(
        settings(
            kafka_security_protocol="SSL",
            kafka_ssl_certfile=pki.client_cert,
            kafka_ssl_keyfile=pki.client_key,
        )
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(pki, untrusting["ssl_context"])


# -- refusals name the variable ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"kafka_security_protocol": "TLS"}, ["RESONANZ_KAFKA_SECURITY_PROTOCOL='TLS'", "SASL_SSL"]),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u",
          "kafka_sasl_password": SecretStr("p")}, ["needs RESONANZ_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"]),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "GSSAPI",
          "kafka_sasl_username": "u", "kafka_sasl_password": SecretStr("p")},
         ["RESONANZ_KAFKA_SASL_MECHANISM='GSSAPI'"]),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
          "kafka_sasl_password": SecretStr("p")}, ["needs RESONANZ_KAFKA_SASL_USERNAME"]),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
          "kafka_sasl_username": "u"}, ["needs RESONANZ_KAFKA_SASL_PASSWORD"]),
        ({"kafka_sasl_username": "u"}, ["RESONANZ_KAFKA_SASL_USERNAME is set", "PLAINTEXT"]),
        ({"kafka_security_protocol": "SSL", "kafka_sasl_mechanism": "PLAIN"},
         ["RESONANZ_KAFKA_SASL_MECHANISM is set", "SSL does not use SASL"]),
        ({"kafka_ssl_cafile": Path("/etc/ca.pem")}, ["RESONANZ_KAFKA_SSL_CAFILE is set", "does not use TLS"]),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
          "kafka_sasl_username": "u", "kafka_sasl_password": SecretStr("p"),
          "kafka_ssl_certfile": Path("/etc/client.pem")}, ["RESONANZ_KAFKA_SSL_CERTFILE is set"]),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": Path("/nonexistent/ca.pem")},
         ["RESONANZ_KAFKA_SSL_CAFILE='/nonexistent/ca.pem' is not a readable file"]),
    ],
)  # fmt: skip
def test_bad_combinations_are_refused_naming_the_variable(values: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        kafka_client_options(settings(**values))
    for word in words:
        assert word in str(info.value)
    assert "'p'" not in str(info.value)  # never the password


def test_unusable_files_are_refused_naming_the_variable(pki: Pki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match=r"RESONANZ_KAFKA_SSL_CAFILE=.*no usable CA"):
        kafka_client_options(settings(kafka_security_protocol="SSL", kafka_ssl_cafile=garbage))
    with pytest.raises(ConfigurationError, match="RESONANZ_KAFKA_SSL_KEYFILE is set without"):
        kafka_client_options(settings(kafka_security_protocol="SSL", kafka_ssl_keyfile=pki.client_key))
    # The client certificate with the broker's key: not a pair.
    with pytest.raises(ConfigurationError, match=r"RESONANZ_KAFKA_SSL_CERTFILE=.*not a usable"):
        kafka_client_options(
            settings(
                kafka_security_protocol="SSL",
                kafka_ssl_certfile=pki.client_cert,
                kafka_ssl_keyfile=pki.server_key,
            )
        )
    # An encrypted key is refused, not prompted for.
    encrypted = tmp_path / "encrypted-key.pem"
    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), password=None)
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass"),
        )
    )
    with pytest.raises(ConfigurationError, match="RESONANZ_KAFKA_SSL_KEYFILE"):
        kafka_client_options(
            settings(
                kafka_security_protocol="SSL",
                kafka_ssl_certfile=pki.client_cert,
                kafka_ssl_keyfile=encrypted,
            )
        )


# -- PLAINTEXT options against the real broker -------------------------------------------------------


@pytest.mark.integration
async def test_plaintext_options_reach_the_real_broker(kafka_bootstrap: str, topic_prefix: str) -> None:
    options = kafka_client_options(Settings(kafka_bootstrap=kafka_bootstrap))
    await ensure_topics(kafka_bootstrap, ["deploy.security"], prefix=topic_prefix, client_options=options)
    received: list[ReceivedEvent] = []
    done = asyncio.Event()

    async def handle(events: Sequence[ReceivedEvent]) -> None:
        received.extend(events)
        done.set()

    async with EventProducer(kafka_bootstrap, prefix=topic_prefix, client_options=options) as producer:
        consumer = EventConsumer(
            kafka_bootstrap,
            group_id=f"{topic_prefix}security",
            topics=["deploy.security"],
            handler=handle,
            producer=producer,
            prefix=topic_prefix,
            client_options=options,
        )
        envelope = new_envelope("acme", events_pb2.MentionCollected())
        await producer.publish("deploy.security", envelope, key="k")
        task = asyncio.create_task(consumer.run())
        try:
            await asyncio.wait_for(done.wait(), 30)
        finally:
            await consumer.stop()
            await task
    assert [event.envelope.event_id for event in received] == [envelope.event_id]
