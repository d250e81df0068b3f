"""How a channel reports a failed send: the worker retries a transient failure (with backoff, a few times)
and records a permanent one at once (a refused address will not be accepted on a second try)."""

from __future__ import annotations


class SendFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason[:500]
        self.permanent = permanent


def permanent(reason: str) -> SendFailed:
    return SendFailed(reason, permanent=True)


def transient(reason: str) -> SendFailed:
    return SendFailed(reason, permanent=False)
