"""Every event the customer service writes to its outbox matches the published payload Struct of its type
(crm_shared.schemas.events.EVENT_TYPES): consumers in other services decode these shapes with msgspec."""

import msgspec

from crm_shared.events import EventEnvelope
from crm_shared.schemas.events import EVENT_TYPES

from .helpers import idem, order, outbox_events


def _undeclared(data: object, decoded: object, where: str = "data") -> list[str]:
    """Fields the producer wrote that the payload Struct does not declare (a consumer would never see
    them): the Struct ignores unknown fields, so the registry would drift silently."""
    if isinstance(decoded, msgspec.Struct) and isinstance(data, dict):
        fields = decoded.__struct_fields__
        out = [f"{where}.{k}" for k in data if k not in fields]
        for k in fields:
            if k in data:
                out += _undeclared(data[k], getattr(decoded, k), f"{where}.{k}")
        return out
    if isinstance(decoded, list) and isinstance(data, list):
        return [
            m for i, (d, v) in enumerate(zip(data, decoded, strict=True)) for m in _undeclared(d, v, f"{where}[{i}]")
        ]
    return []


async def _ok(response, status=(200, 201, 204)):
    assert response.status_code in status, response.text
    return response.json() if response.content else None


async def test_every_emitted_event_matches_its_schema(api, db):
    ana = await _ok(
        await api.post("/api/v1/customers", json={"first_name": "Ana", "email": "ana@example.com"}, headers=idem())
    )
    bo = await _ok(
        await api.post("/api/v1/customers", json={"first_name": "Bo", "email": "ana@example.com"}, headers=idem())
    )
    a, b = ana["id"], bo["id"]
    await _ok(
        await api.patch(
            f"/api/v1/customers/{a}",
            json={"last_name": "Ruiz", "payment_terms": "prepaid"},
            headers={**idem(), "If-Match": '"1"'},
        )
    )
    pushed = order("SO-1")
    del pushed["customer"]
    placed = await _ok(await api.post("/api/v1/orders", json={**pushed, "customer_id": a}, headers=idem()))
    await _ok(await api.post(f"/api/v1/orders/{placed['id']}/refund", json={"amount": "10"}, headers=idem()))
    await _ok(await api.post(f"/api/v1/orders/{placed['id']}/cancel", json={}, headers=idem()), (200, 409))
    contact = await _ok(
        await api.post(
            f"/api/v1/customers/{a}/contacts", json={"first_name": "Eva", "relation": "assistant"}, headers=idem()
        )
    )
    await _ok(
        await api.patch(
            f"/api/v1/customers/{a}/contacts/{contact['id']}",
            json={"role": "PA"},
            headers={**idem(), "If-Match": '"1"'},
        )
    )
    await _ok(await api.put(f"/api/v1/customers/{a}/tags/member", headers=idem()))
    await _ok(await api.delete(f"/api/v1/customers/{a}/tags/member", headers=idem()))
    await _ok(await api.put(f"/api/v1/customers/{b}/referral", json={"referrer_id": a}, headers=idem()))
    await _ok(
        await api.post(
            f"/api/v1/customers/{a}/profile-answers",
            json={"question_key": "budget.range", "answer": "1-5k"},
            headers=idem(),
        )
    )
    await _ok(
        await api.post(
            f"/api/v1/customers/{a}/interactions",
            json={"channel": "call", "direction": "outbound", "occurred_at": "2026-01-02T10:00:00Z"},
            headers=idem(),
        )
    )
    await _ok(
        await api.put(
            f"/api/v1/customers/{a}/consents/email", json={"status": "opted_out", "source": "link"}, headers=idem()
        )
    )
    await _ok(
        await api.put(f"/api/v1/customers/{a}/contact-preferences", json={"preferred_channel": "sms"}, headers=idem())
    )
    complaint = await _ok(
        await api.post(
            "/api/v1/complaints",
            json={"customer_id": a, "category": "delivery", "severity": "high", "channel": "phone", "subject": "Late"},
            headers=idem(),
        )
    )
    for action in (
        {"action": "start"},
        {"action": "resolve", "resolution_note": "Refunded shipping", "first_contact_resolution": False},
        {"action": "close"},
        {"action": "reopen"},
    ):
        await _ok(await api.post(f"/api/v1/complaints/{complaint['id']}/transitions", json=action, headers=idem()))
    await _ok(await api.patch(f"/api/v1/complaints/{complaint['id']}", json={"owner": "kim"}, headers=idem()))
    await _ok(await api.delete(f"/api/v1/customers/{a}/contacts/{contact['id']}", headers=idem()), (204, 409))
    await _ok(await api.post(f"/api/v1/customers/{a}/merge", json={"merged_id": b}, headers=idem()))

    events = await outbox_events(db)
    seen = {e["type"] for e in events}
    for event in events:
        EventEnvelope.model_validate(event)
        assert event["type"] in EVENT_TYPES, f"unregistered event type {event['type']}"
        decoded = msgspec.convert(event["data"], EVENT_TYPES[event["type"]])
        assert not _undeclared(event["data"], decoded), (event["type"], _undeclared(event["data"], decoded))
    expected = {
        "customer.created",
        "customer.updated",
        "order.created",
        "order.refunded",
        "contact.created",
        "contact.updated",
        "tag.added",
        "tag.removed",
        "referral.recorded",
        "profile.answered",
        "interaction.logged",
        "consent.changed",
        "contact_preferences.changed",
        "complaint.opened",
        "complaint.started",
        "complaint.resolved",
        "complaint.closed",
        "complaint.reopened",
        "complaint.updated",
        "customer.merged",
    }
    assert expected <= seen, expected - seen
