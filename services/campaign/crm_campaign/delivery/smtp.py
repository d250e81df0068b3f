"""Email over SMTP (aiosmtplib): the message with its RFC 8058 one-click unsubscribe headers, and a
sender that keeps one connection open for a batch and reconnects when the server drops it."""

from __future__ import annotations

from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from typing import Literal, Self

import aiosmtplib

from .outcomes import SendFailed, permanent, transient

TlsMode = Literal["none", "starttls", "tls"]
# Bodies as quoted-printable UTF-8: readable in the raw message, unlike base64.
BODY_CHARSET = Charset("utf-8")
BODY_CHARSET.body_encoding = QP
RECIPIENT_HEADER = "X-CRM-Recipient"  # campaign id.customer id: which recipient row this is


def compose_email(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    reference: str,
    unsubscribe_url: str,
    preferences_url: str,
) -> Message:
    """A plain-text marketing email. `List-Unsubscribe` + `List-Unsubscribe-Post` let a mail client
    unsubscribe with one POST and no page (RFC 8058); the footer links the preference page.

    Built with the compat32 classes (MIMEText): the modern EmailMessage parses and refolds every header
    through its registry, which made composing an email cost more than sending it."""
    footer = f"\n\n--\nManage your preferences: {preferences_url}\nUnsubscribe: {unsubscribe_url}\n"
    msg = MIMEText(text + footer, "plain", BODY_CHARSET)  # type: ignore[arg-type]
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")  # type: ignore[assignment]
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=reference, domain=sender.rpartition("@")[2].strip(">") or None)
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg[RECIPIENT_HEADER] = reference
    return msg


class SmtpSender:
    """`async with SmtpSender(...) as smtp: await smtp.send(msg)`; raises SendFailed."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: TlsMode = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._smtp = aiosmtplib.SMTP(
            hostname=host,
            port=port,
            use_tls=tls == "tls",
            start_tls=True if tls == "starttls" else False if tls == "none" else None,
            username=username,
            password=password,
            timeout=timeout,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._smtp.is_connected:
            try:
                await self._smtp.quit()
            except aiosmtplib.SMTPException:
                self._smtp.close()

    async def send(self, msg: Message) -> str:
        """Send one message; returns the server's answer (its queue id, when it gives one)."""
        try:
            if not self._smtp.is_connected:
                await self._smtp.connect()
            _, answer = await self._smtp.send_message(msg)
            return answer
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _classify(exc.recipients[0].code, exc.recipients[0].message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            self._smtp.close()  # the transaction state is unknown: start over on the next message
            raise _classify(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # connect, timeout, dropped connection
            self._smtp.close()
            raise transient(f"SMTP: {exc.__class__.__name__}: {exc}") from exc


def _classify(code: int, message: str) -> SendFailed:
    """5xx: the server refuses for good (unknown mailbox, policy); 4xx: try again later."""
    reason = f"SMTP {code}: {message}"
    return permanent(reason) if 500 <= code < 600 else transient(reason)
