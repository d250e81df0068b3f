"""Segments on real PostgreSQL: rule trees compile to one WHERE whose matches equal the rules applied by
hand; bad rules are refused naming the offending node, and change nothing."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx

from tests.campaign.support import add_audience, idem

NOW = datetime.now(UTC)


async def _fixture(db: asyncpg.Connection) -> list[dict]:
    people = []
    for i in range(60):
        people.append(
            {
                "kind": "company" if i % 5 == 0 else "individual",
                "abc_class": "ABC"[i % 3] if i % 7 else None,
                "stage": ["growth", "maturity", "decline", "churned"][i % 4],
                "clv": Decimal(i * 10),
                "churn_risk": (i % 10) / 10,
                "composite_score": Decimal(i),
                "gold": i % 11 == 0,
                "tags": ["loyal"] if i % 2 else (["complainant", "member"] if i % 3 == 0 else []),
                "consent_email": "opted_out" if i % 6 == 0 else ("opted_in" if i % 4 else None),
                "customer_since": NOW - timedelta(days=31 * i),
                "region": "North" if i < 30 else "South",
                "merged_into": None,
            }
        )
    ids = await add_audience(db, people)
    for person, cid in zip(people, ids, strict=True):
        person["customer_id"] = cid
    return people


async def _count(api: httpx.AsyncClient, rules: dict) -> int:
    r = await api.post("/api/v1/segments/preview", json={"rules": rules, "sample": 5})
    assert r.status_code == 200, r.text
    return r.json()["count"]


async def test_rules_match_what_they_say(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    people = await _fixture(db)
    cases = [
        (
            {
                "and": [
                    {"field": "abc_class", "op": "in", "value": ["A", "B"]},
                    {"field": "stage", "op": "eq", "value": "decline"},
                ]
            },
            lambda p: p["abc_class"] in ("A", "B") and p["stage"] == "decline",
        ),
        (
            {"or": [{"field": "gold", "op": "eq", "value": True}, {"field": "clv", "op": "gte", "value": "500"}]},
            lambda p: p["gold"] or p["clv"] >= 500,
        ),
        ({"not": {"field": "abc_class", "op": "eq", "value": "C"}}, lambda p: p["abc_class"] != "C"),
        ({"field": "tags", "op": "has", "value": "loyal"}, lambda p: "loyal" in p["tags"]),
        (
            {"field": "tags", "op": "has_none", "value": ["loyal", "member"]},
            lambda p: not {"loyal", "member"} & set(p["tags"]),
        ),
        ({"field": "consent_email", "op": "eq", "value": "unknown"}, lambda p: p["consent_email"] is None),
        ({"field": "consent_email", "op": "ne", "value": "opted_out"}, lambda p: p["consent_email"] != "opted_out"),
        ({"field": "churn_risk", "op": "between", "value": [0.3, 0.6]}, lambda p: 0.3 <= p["churn_risk"] <= 0.6),
        ({"field": "abc_class", "op": "is_null"}, lambda p: p["abc_class"] is None),
        # 31-day months from now: customer i has i whole months of tenure (for i below ~30)
        (
            {"field": "tenure_months", "op": "between", "value": [3, 12]},
            lambda p: (
                3 <= (NOW - p["customer_since"]).days // 31 <= 12 and (NOW - p["customer_since"]).days < 31 * 13 - 6
            ),
        ),
        (
            {
                "and": [
                    {"field": "kind", "op": "eq", "value": "company"},
                    {"not": {"field": "region", "op": "in", "value": ["North"]}},
                ]
            },
            lambda p: p["kind"] == "company" and p["region"] != "North",
        ),
    ]
    for rules, matches in cases:
        assert await _count(api, rules) == sum(1 for p in people if matches(p)), rules


async def test_preview_samples_highest_scores_without_personal_data(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await _fixture(db)
    r = await api.post(
        "/api/v1/segments/preview", json={"rules": {"field": "stage", "op": "eq", "value": "churned"}, "sample": 3}
    )
    body = r.json()
    assert body["count"] == 15
    assert [Decimal(s["composite_score"]) for s in body["sample"]] == [Decimal(59), Decimal(55), Decimal(51)]
    assert "email" not in body["sample"][0]


async def test_merged_customers_never_match(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    [survivor] = await add_audience(db, [{"abc_class": "A"}])
    await add_audience(db, [{"abc_class": "A", "merged_into": survivor}])
    assert await _count(api, {"field": "abc_class", "op": "eq", "value": "A"}) == 1


async def test_bad_rules_are_refused_naming_the_node_and_nothing_is_saved(api: httpx.AsyncClient) -> None:
    rules = {
        "and": [
            {"field": "abc_class", "op": "in", "value": ["A", "Z"]},
            {"or": [{"field": "shoe_size", "op": "eq", "value": 42}, {"field": "clv", "op": "gt", "value": "lots"}]},
            {"not": {"field": "p_alive", "op": "gte", "value": 1.5}},
            {"field": "gold", "op": "between", "value": [1, 2]},
            {"or": []},
        ]
    }
    r = await api.post("/api/v1/segments", json={"name": "broken", "rules": rules}, headers=idem())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert pointers == {
        "#/rules/and/0/value/1",
        "#/rules/and/1/or/0/field",
        "#/rules/and/1/or/1/value",
        "#/rules/and/2/not/value",
        "#/rules/and/3/op",
        "#/rules/and/4/or",
    }
    assert (await api.get("/api/v1/segments")).json()["items"] == []
    r = await api.post("/api/v1/segments/preview", json={"rules": {"xor": []}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "#/rules/xor"


async def test_create_read_and_change_with_if_match(api: httpx.AsyncClient) -> None:
    rules = {"field": "stage", "op": "eq", "value": "decline"}
    r = await api.post("/api/v1/segments", json={"name": "Decliners", "rules": rules, "mode": "frozen"}, headers=idem())
    assert r.status_code == 201, r.text
    seg = r.json()
    assert r.headers["location"].endswith(seg["id"])
    assert (
        await api.post("/api/v1/segments", json={"name": "Decliners", "rules": rules}, headers=idem())
    ).status_code == 409
    url = f"/api/v1/segments/{seg['id']}"
    got = await api.get(url)
    assert got.json()["mode"] == "frozen"
    assert got.headers["etag"] == '"1"'
    assert (await api.patch(url, json={"name": "X"}, headers=idem())).status_code == 428
    assert (await api.patch(url, json={"name": "X"}, headers=idem(**{"If-Match": '"7"'}))).status_code == 412
    bad = await api.patch(
        url, json={"rules": {"field": "stage", "op": "eq", "value": "zombie"}}, headers=idem(**{"If-Match": '"1"'})
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "#/rules/value"
    assert (await api.get(url)).json()["rules"] == rules
    ok = await api.patch(url, json={"name": "Decline", "mode": "dynamic"}, headers=idem(**{"If-Match": '"1"'}))
    assert ok.status_code == 200, ok.text
    assert ok.json()["version"] == 2
    assert ok.json()["mode"] == "dynamic"
    fields = (await api.get("/api/v1/segments/fields")).json()["items"]
    assert {"field": "abc_class", "type": "enum"}.items() <= next(
        f for f in fields if f["field"] == "abc_class"
    ).items()


async def test_an_explicit_customer_list_such_as_win_back_cases(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    ids = await add_audience(db, [{} for _ in range(5)])
    rules = {"field": "customer_id", "op": "in", "value": [str(i) for i in ids[:3]] + [str(uuid.uuid4())]}
    assert await _count(api, rules) == 3
    assert await _count(api, {"not": rules}) == 2
    bad = await api.post("/api/v1/segments/preview", json={"rules": {**rules, "value": [str(ids[0]), "nope"]}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "#/rules/value/1"
