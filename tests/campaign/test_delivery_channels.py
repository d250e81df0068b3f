"""The delivery channels against real local servers: an aiosmtpd SMTP server that keeps what arrives (or
refuses, for a while or for good) and an HTTP SMS receiver; the signed links; the preference form.

The servers live here and the other delivery tests import them (`LocalSmtp`, `SmsReceiver`)."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage, Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from crm_campaign.delivery.links import InvalidLink, LinkSigner
from crm_campaign.delivery.outcomes import SendFailed
from crm_campaign.delivery.sms import SmsProvider
from crm_campaign.delivery.smtp import SmtpSender, compose_email
from crm_campaign.preferences.page import FormErrors, PreferenceForm, parse_form, render_page
from crm_shared.testing import free_port


class _Handler:
    def __init__(self, server: LocalSmtp) -> None:
        self.server = server

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.server.refuse_next > 0:
            self.server.refuse_next -= 1
            return self.server.refusal
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.server.received.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type,unused-ignore]
        return "250 OK queued"


class LocalSmtp:
    """A real SMTP server on 127.0.0.1 (aiosmtpd, in its own thread). `refuse_next` answers that many
    DATA commands with `refusal` (a 4xx: try later; a 5xx: refused for good)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[EmailMessage] = []
        self.refuse_next = 0
        self.refusal = "451 4.3.0 try again later"
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> LocalSmtp:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


class SmsReceiver:
    """A real HTTP server standing in for the SMS provider: keeps each POST (headers and JSON body) and
    answers 201 with an id, or `fail_next` times with `fail_status`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/messages"
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0
        self.fail_status = 503
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(receiver.fail_status)
                    self.end_headers()
                    return
                receiver.received.append({"headers": dict(self.headers), "body": json.loads(body)})
                answer = json.dumps({"id": f"sms-{len(receiver.received)}"}).encode()
                self.send_response(201)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SmsReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def smtp_server() -> Iterator[LocalSmtp]:
    with LocalSmtp() as server:
        yield server


@pytest.fixture
def sms_receiver() -> Iterator[SmsReceiver]:
    with SmsReceiver() as receiver:
        yield receiver


def _message(
    to: str = "ada@example.com", subject: str = "We miss you", text: str = "Hello Ada,\nhere is 10% off."
) -> Message:
    return compose_email(
        sender="Shop <news@shop.example>",
        to=to,
        subject=subject,
        text=text,
        reference="c1.r1",
        unsubscribe_url="https://crm.example/public/campaigns/unsubscribe/TOKEN",
        preferences_url="https://crm.example/public/campaigns/preferences/PTOKEN",
    )


async def test_an_email_arrives_with_one_click_unsubscribe_headers(smtp_server: LocalSmtp) -> None:
    async with SmtpSender("127.0.0.1", smtp_server.port) as smtp:
        answer = await smtp.send(_message())
        await smtp.send(_message("bob@example.com"))  # the same connection carries the next one
    assert "OK" in answer
    first, second = smtp_server.received
    assert first["To"] == "ada@example.com"
    assert second["To"] == "bob@example.com"
    assert first["Subject"] == "We miss you"
    assert first["List-Unsubscribe"] == "<https://crm.example/public/campaigns/unsubscribe/TOKEN>"
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = first.get_content()
    assert "here is 10% off." in body
    assert "/public/campaigns/preferences/PTOKEN" in body


async def test_non_ascii_subjects_and_bodies_arrive_intact(smtp_server: LocalSmtp) -> None:
    async with SmtpSender("127.0.0.1", smtp_server.port) as smtp:
        await smtp.send(_message(subject="Zoë, wir vermissen Sie: 10 %", text="Grüße aus Köln 😀"))
    (got,) = smtp_server.received
    assert got["Subject"] == "Zoë, wir vermissen Sie: 10 %"
    assert got.get_content().startswith("Grüße aus Köln 😀")
    assert got["Date"] is not None


async def test_smtp_refusals_are_transient_or_permanent(smtp_server: LocalSmtp) -> None:
    smtp_server.refuse_next = 1
    async with SmtpSender("127.0.0.1", smtp_server.port) as smtp:
        with pytest.raises(SendFailed) as later:
            await smtp.send(_message())
        assert not later.value.permanent
        assert "451" in later.value.reason
        await smtp.send(_message())  # reconnects after the refusal
        smtp_server.refuse_next, smtp_server.refusal = 1, "550 5.1.1 no such mailbox"
        with pytest.raises(SendFailed) as refused:
            await smtp.send(_message())
        assert refused.value.permanent
        assert "550" in refused.value.reason
    assert len(smtp_server.received) == 1


async def test_an_unreachable_smtp_server_is_a_transient_failure() -> None:
    async with SmtpSender("127.0.0.1", free_port(), timeout=2) as smtp:
        with pytest.raises(SendFailed) as failed:
            await smtp.send(_message())
    assert not failed.value.permanent


async def test_an_sms_reaches_the_provider(sms_receiver: SmsReceiver) -> None:
    ref = uuid.uuid4()
    async with SmsProvider(sms_receiver.url, token="provider-token") as sms:
        provider_id = await sms.send(to="+4915112345678", text="10% off today", reference=ref)
    assert provider_id == "sms-1"
    (got,) = sms_receiver.received
    assert got["body"] == {"to": "+4915112345678", "text": "10% off today", "reference": str(ref)}
    assert got["headers"]["Authorization"] == "Bearer provider-token"


@pytest.mark.parametrize(("status", "permanent"), [(503, False), (429, False), (400, True)])
async def test_sms_provider_errors(sms_receiver: SmsReceiver, status: int, permanent: bool) -> None:
    sms_receiver.fail_next, sms_receiver.fail_status = 1, status
    async with SmsProvider(sms_receiver.url, token="t") as sms:
        with pytest.raises(SendFailed) as failed:
            await sms.send(to="+1", text="x", reference=uuid.uuid4())
    assert failed.value.permanent is permanent
    assert sms_receiver.received == []


def test_signed_links_verify_only_for_their_purpose_and_time() -> None:
    signer = LinkSigner(["k" * 32], ttl_seconds=3600)
    customer, campaign = uuid.uuid4(), uuid.uuid4()
    token = signer.sign("unsubscribe", customer=customer, channel="email", campaign=campaign)
    claims = signer.verify("unsubscribe", token)
    assert (claims.customer, claims.channel, claims.campaign) == (customer, "email", campaign)
    with pytest.raises(InvalidLink):
        signer.verify("preferences", token)  # another purpose
    with pytest.raises(InvalidLink):
        signer.verify("unsubscribe", token, now=time.time() + 3601)  # expired
    body, mac = token.split(".")
    forged = signer.sign("unsubscribe", customer=uuid.uuid4(), channel="email").split(".")[0]
    for bad in (f"{forged}.{mac}", f"{body}.{mac[:-2]}xx", body, "", "." * 5):
        with pytest.raises(InvalidLink):
            signer.verify("unsubscribe", bad)
    with pytest.raises(InvalidLink):
        LinkSigner(["other" * 8], ttl_seconds=3600).verify("unsubscribe", token)
    # Rotation: a new first secret signs, the old one still verifies what it signed.
    assert LinkSigner(["new" * 11, "k" * 32], ttl_seconds=3600).verify("unsubscribe", token) == claims


def test_the_preference_form_parses_and_names_bad_fields() -> None:
    form = parse_form({"consent_email": ["on"], "preferred_channel": ["sms"], "max_contacts_per_month": ["3"]})
    assert form == PreferenceForm(
        consents={"email": "opted_in", "sms": "opted_out", "mail": "opted_out", "phone": "opted_out"},
        preferred_channel="sms",
        max_contacts_per_month=3,
    )
    assert parse_form({"max_contacts_per_month": [""]}).max_contacts_per_month is None
    with pytest.raises(FormErrors) as bad:
        parse_form(
            {"consent_email": ["yes"], "preferred_channel": ["fax"], "max_contacts_per_month": ["-1"], "x": ["1"]}
        )
    assert set(bad.value.errors) == {"consent_email", "preferred_channel", "max_contacts_per_month", "x"}


def test_the_page_escapes_what_it_shows() -> None:
    form = PreferenceForm(consents={"email": "opted_in"}, preferred_channel="email", max_contacts_per_month=2)
    html = render_page(action="/p/<tok>", form=form, message="<script>alert(1)</script>")
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html
    assert 'name="consent_email" value="on" checked' in html
    assert 'name="consent_sms" value="on">' in html
    assert '<option value="email" selected>' in html
    assert 'value="2"' in html
