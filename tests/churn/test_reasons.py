"""Churn reasons as data: both default taxonomies seeded; add, rename, retire (history kept)."""

import uuid

import httpx

from .events import idem

URL = "/api/v1/churn/reasons"


async def test_both_default_taxonomies_are_seeded(api: httpx.AsyncClient) -> None:
    items = (await api.get(URL, params={"limit": 100})).json()["items"]
    by_tax: dict[str, set[str]] = {}
    for r in items:
        by_tax.setdefault(r["taxonomy"], set()).add(r["key"])
        assert r["system"] is True
    assert by_tax == {
        "cause": {"price", "product", "technology", "political"},
        "recoverability": {"abandoned_by_us", "forced", "bought_off", "attracted", "left_dissatisfied", "other"},
    }
    controllable = {r["key"]: r["controllable"] for r in items}
    assert controllable["price"] is True
    assert controllable["forced"] is False


async def test_add_rename_retire_and_history(api: httpx.AsyncClient) -> None:
    created = await api.post(
        URL, json={"key": "service", "taxonomy": "cause", "label": "Service", "controllable": True}, headers=idem()
    )
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    again = await api.post(
        URL, json={"key": "service", "taxonomy": "cause", "label": "X", "controllable": True}, headers=idem()
    )
    assert again.status_code == 409

    # a record cites it, then it is renamed and retired
    customer = uuid.uuid4()
    rec = await api.post(
        "/api/v1/churn/records", json={"customer_id": str(customer), "reasons": ["service"]}, headers=idem()
    )
    assert rec.status_code == 201, rec.text

    no_etag = await api.patch(f"{URL}/service", json={"label": "Service quality"}, headers=idem())
    assert no_etag.status_code == 428
    renamed = await api.patch(
        f"{URL}/service", json={"label": "Service quality"}, headers={**idem(), "If-Match": '"1"'}
    )
    assert renamed.status_code == 200
    assert renamed.json()["label"] == "Service quality"
    stale = await api.patch(f"{URL}/service", json={"retired": True}, headers={**idem(), "If-Match": '"1"'})
    assert stale.status_code == 412
    retired = await api.patch(f"{URL}/service", json={"retired": True}, headers={**idem(), "If-Match": '"2"'})
    assert retired.json()["retired_at"] is not None

    listed = {r["key"] for r in (await api.get(URL, params={"taxonomy": "cause"})).json()["items"]}
    assert "service" not in listed
    with_retired = (await api.get(URL, params={"taxonomy": "cause", "include_retired": "true"})).json()["items"]
    assert "service" in {r["key"] for r in with_retired}
    # history kept: the record still cites it; a new record cannot take it (422 naming the field)
    assert (await api.get(f"/api/v1/churn/records/{rec.json()['id']}")).json()["reasons"] == ["service"]
    refused = await api.post(
        "/api/v1/churn/records",
        json={"customer_id": str(uuid.uuid4()), "reasons": ["price", "service"]},
        headers=idem(),
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"detail": "'service' is retired", "pointer": "#/reasons/1"}]


async def test_bad_reason_input_is_refused(api: httpx.AsyncClient) -> None:
    for body in (
        {"key": "Bad Key", "taxonomy": "cause", "label": "x", "controllable": True},
        {"key": "ok", "taxonomy": "mood", "label": "x", "controllable": True},
        {"key": "ok", "taxonomy": "cause", "label": "", "controllable": True},
    ):
        r = await api.post(URL, json=body, headers=idem())
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["pointer"] in ("#/key", "#/taxonomy", "#/label")
    assert (await api.get(f"{URL}/ok")).status_code == 404
