"""SMS through a configurable HTTP provider: `POST {url}` with JSON `{"to", "text", "reference"}` and a
bearer token (none when the token is empty: a local relay); a 2xx is accepted (its JSON `id`, when
present, is the provider's message id)."""

from __future__ import annotations

import uuid
from typing import Self

import httpx

from .outcomes import permanent, transient


class SmsProvider:
    def __init__(
        self, url: str, *, token: str, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url = url
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            headers={"Authorization": f"Bearer {token}"} if token else None,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def send(self, *, to: str, text: str, reference: uuid.UUID) -> str:
        """Hand one message to the provider; raises SendFailed. `reference` (the recipient id) lets the
        provider drop a repeat if our first try's answer was lost."""
        try:
            response = await self._http.post(
                self._url,
                json={"to": to, "text": text, "reference": str(reference)},
                headers={"Idempotency-Key": str(reference)},
            )
        except httpx.HTTPError as exc:
            raise transient(f"SMS provider: {exc.__class__.__name__}: {exc}") from exc
        if response.is_success:
            try:
                body = response.json()
            except ValueError:
                body = None
            return str(body.get("id", "")) if isinstance(body, dict) else ""
        reason = f"SMS provider {response.status_code}: {response.text[:200]}"
        # Refused as such (bad number, bad request): permanent. Throttled or failing: try later.
        if response.status_code == 429 or response.status_code >= 500:
            raise transient(reason)
        raise permanent(reason)
