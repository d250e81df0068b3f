"""The worker's transport against real sockets: a resolver that answers a public address to the check and
an inside one a moment later (DNS rebinding) does not get the inside one called, since the connection goes
to the address that was checked; and the connection still belongs to the name: its Host header, its TLS
SNI, and a certificate verified against the name (not the address).

Loopback addresses stand for both sides: 127.0.0.2 plays a partner's public address and 127.0.0.3 an inside
one (the vetting predicate is the test's); both listen on one port, as two hosts would."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crm_webhooks.deliveries.pinned_transport import is_private, pinned_transport

OUTSIDE, INSIDE = "127.0.0.2", "127.0.0.3"


@dataclass
class Server:
    """A one-request-per-connection HTTP server; what it was sent, by the address it listens on."""

    seen: list[tuple[str, str, bytes]] = field(default_factory=list)  # (address, Host header, body)
    sni: list[str | None] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        lowered = {k.lower(): v for k, v in headers.items()}
        body = await reader.readexactly(int(lowered.get("content-length", "0")))
        self.seen.append((writer.get_extra_info("sockname")[0], lowered["host"], body))
        writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
async def two_hosts() -> AsyncIterator[tuple[Server, int, list[asyncio.Server]]]:
    server = Server()
    outside = await asyncio.start_server(server.handle, OUTSIDE, 0)
    port = outside.sockets[0].getsockname()[1]
    inside = await asyncio.start_server(server.handle, INSIDE, port)
    yield server, port, [outside, inside]
    for s in (outside, inside):
        s.close()
        await s.wait_closed()


class Rebinding:
    """Answers the outside address to the first lookup and the inside one to every later lookup."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return [OUTSIDE] if len(self.lookups) == 1 else [INSIDE]


def _inside(address: str) -> bool:
    return address == INSIDE


async def test_a_rebinding_resolver_does_not_get_the_inside_address_called(
    two_hosts: tuple[Server, int, list[asyncio.Server]],
) -> None:
    server, port, _ = two_hosts
    resolver = Rebinding()
    transport = pinned_transport(allow_private=False, resolve=resolver, inside=_inside)
    async with httpx.AsyncClient(transport=transport) as client:
        r = await client.post(f"http://receiver.example:{port}/in", content=b"first")
        assert r.status_code == 204
        # The server closed that connection: the next request connects (and resolves) again, now inside.
        with pytest.raises(httpx.ConnectError, match="resolves to a private"):
            await client.post(f"http://receiver.example:{port}/in", content=b"second")
    assert resolver.lookups == ["receiver.example", "receiver.example"]  # one lookup per connection, no more
    assert server.seen == [(OUTSIDE, f"receiver.example:{port}", b"first")]  # the name in Host, nothing inside


async def test_any_inside_answer_refuses_the_host(two_hosts: tuple[Server, int, list[asyncio.Server]]) -> None:
    server, port, _ = two_hosts

    async def mixed(host: str, port: int) -> list[str]:
        return [OUTSIDE, INSIDE]

    transport = pinned_transport(allow_private=False, resolve=mixed, inside=_inside)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError, match=f"resolves to a private.*{INSIDE}"):
            await client.post(f"http://receiver.example:{port}/in", content=b"x")
    assert server.seen == []
    # Where private hosts are allowed (local runs), the first address that answers is used.
    transport = pinned_transport(allow_private=True, resolve=mixed, inside=_inside)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.post(f"http://receiver.example:{port}/in", content=b"y")).status_code == 204
    assert server.seen == [(OUTSIDE, f"receiver.example:{port}", b"y")]


async def test_the_system_resolver_and_the_predicate() -> None:
    transport = pinned_transport(allow_private=False)  # the real resolver: localhost is loopback
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError, match="resolves to a private"):
            await client.post("http://localhost:9/in")
        with pytest.raises(httpx.ConnectError, match=r"no-such-host\.invalid"):
            await client.post("http://no-such-host.invalid/in")
    for inside in (
        "localhost",
        "127.0.0.1",
        "fd00::1",
        "fe80::1%eth0",
        "169.254.169.254",
        "10.1.2.3",
        "::ffff:127.0.0.1",
    ):
        assert is_private(inside), inside
    for outside in ("93.184.216.34", "2606:4700::1111"):
        assert not is_private(outside), outside
    assert not is_private("receiver.example")  # a name: vetted by what it resolves to


def _certificates(name: str) -> tuple[bytes, bytes, bytes]:
    """A CA (PEM) and a leaf certificate for `name` signed by it, with the leaf's key (PEM)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem


async def test_tls_verifies_the_name_not_the_address(tmp_path: Path) -> None:
    folder = tmp_path
    ca, leaf, key = _certificates("receiver.example")
    (folder / "leaf.pem").write_bytes(leaf)
    (folder / "key.pem").write_bytes(key)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(folder / "leaf.pem", folder / "key.pem")
    server = Server()

    def sni(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        server.sni.append(name)

    served.sni_callback = sni  # type: ignore[assignment]
    listening = await asyncio.start_server(server.handle, OUTSIDE, 0, ssl=served)
    port = listening.sockets[0].getsockname()[1]

    async def outside(host: str, port: int) -> list[str]:
        return [OUTSIDE]

    trusted = ssl.create_default_context(cadata=ca.decode())
    try:
        transport = pinned_transport(allow_private=False, resolve=outside, inside=_inside, ssl_context=trusted)
        async with httpx.AsyncClient(transport=transport) as client:
            r = await client.post(f"https://receiver.example:{port}/in", content=b"signed")
            assert r.status_code == 204
            # The same address under another name: its certificate does not name it, so nothing is sent.
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.post(f"https://other.example:{port}/in", content=b"leak")
    finally:
        listening.close()
        await listening.wait_closed()
    assert server.sni == ["receiver.example", "other.example"]
    assert server.seen == [(OUTSIDE, f"receiver.example:{port}", b"signed")]
