"""Formula versions over HTTP: author drafts (validated, 422 naming the term and field), dry runs with a
sample, listing, and activation that retires the previous version in one transaction."""

import copy
import uuid
from typing import Any

import pytest

from crm_scoring.formulas.engine import DEFAULT_FORMULA, Formula, Term, validate
from crm_scoring.formulas.exceptions import NoActiveFormula
from crm_scoring.formulas.repository import active_formula

URL = "/api/v1/scores/formulas"


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def snapshot(db) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a formula request may touch: compare before/after to prove a refusal changed nothing."""
    out = {}
    for table in ("formula_versions", "idempotency_keys", "outbox_messages"):
        rows = await db.fetch(f"SELECT * FROM {table}")
        out[table] = sorted((tuple(r.values()) for r in rows), key=repr)
    return out


def formula(**terms: Any) -> dict[str, Any]:
    body = copy.deepcopy(DEFAULT_FORMULA)
    body["description"] = "test"
    body["terms"].update(terms)
    return body


async def create(api, body=None) -> dict[str, Any]:
    r = await api.post(URL, json=body or formula(), headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


async def test_seeded_version_is_active(api, reader):
    r = await reader.get(f"{URL}/active")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["version"], body["status"], body["created_by"]) == (1, "active", "migration")
    assert body["terms"] == DEFAULT_FORMULA["terms"]
    assert body["activated_at"].endswith(("Z", "+00:00"))
    assert (await reader.get(f"{URL}/1")).json() == body


async def test_create_draft(api, db):
    body = formula(loyalty={"input": "tenure_months", "rule": {"type": "linear", "points_per_unit": 1}})
    r = await api.post(URL, json=body, headers=idem())
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["version"] == 2
    assert r.headers["location"] == f"{URL}/2"
    assert (created["status"], created["created_by"], created["description"]) == ("draft", "admin-1", "test")
    assert created["activated_at"] is None
    assert created["activated_by"] is None
    assert created["terms"]["loyalty"] == {"input": "tenure_months", "rule": {"type": "linear", "points_per_unit": 1}}
    row = await db.fetchrow("SELECT status, created_by, description FROM formula_versions WHERE version = 2")
    assert tuple(row) == ("draft", "admin-1", "test")
    assert (await api.get(f"{URL}/2")).json() == created
    assert (await api.get(f"{URL}/active")).json()["version"] == 1


async def test_create_is_idempotent(api, db):
    headers = idem()
    first = await api.post(URL, json=formula(), headers=headers)
    again = await api.post(URL, json=formula(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await db.fetchval("SELECT count(*) FROM formula_versions") == 2


BAD = [
    pytest.param(
        {"spend": {"input": "total_spent", "rule": {"type": "linear", "points_per_unit": 1}}},
        "spend",
        "#/terms/spend/input",
        "unknown input",
        id="unknown-input",
    ),
    pytest.param(
        {"spend": {"input": "total_spend", "rule": {"type": "exponential"}}},
        "spend",
        "#/terms/spend/rule/type",
        "unknown rule type",
        id="bad-rule-type",
    ),
    pytest.param(
        {"credit": {"input": "payment_terms", "rule": {"type": "linear", "points_per_unit": 1}}},
        "credit",
        "#/terms/credit/rule/type",
        "categorical",
        id="rule-type-for-input",
    ),
    pytest.param(
        {
            "monthly_frequency": {
                "input": "monthly_frequency",
                "rule": {"type": "thresholds", "table": [[0, 0], [2, 5], [1, 9]]},
            }
        },
        "monthly_frequency",
        "#/terms/monthly_frequency/rule/table/2",
        "ascending",
        id="non-ascending-thresholds",
    ),
    pytest.param(
        {"spend": {"input": "total_spend", "rule": {"type": "linear", "points_per_unit": 0.01, "cap": -5}}},
        "spend",
        "#/terms/spend/rule/cap",
        ">= 0",
        id="negative-cap",
    ),
    pytest.param(
        {"credit": {"input": "payment_terms", "rule": {"type": "categories", "weights": {"prepayed": 15}}}},
        "credit",
        "#/terms/credit/rule/weights/prepayed",
        "unknown category",
        id="category-not-in-vocabulary",
    ),
    pytest.param(
        {"Spend": {"input": "total_spend", "rule": {"type": "linear", "points_per_unit": 1}}},
        "Spend",
        "#/terms/Spend",
        "term names",
        id="bad-term-name",
    ),
]


@pytest.mark.parametrize(("terms", "term", "pointer", "detail"), BAD)
async def test_bad_formula_is_422_naming_the_term_and_changes_nothing(api, db, terms, term, pointer, detail):
    before = await snapshot(db)
    for path in (URL, f"{URL}/validate"):
        r = await api.post(path, json={"terms": terms}, headers=idem())
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["term"] == term
        assert [e["pointer"] for e in problem["errors"]] == [pointer]
        assert detail in problem["errors"][0]["detail"]
        assert repr(term) in problem["detail"]
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"terms": {}}, "#/terms"),
        ({"terms": []}, "#/terms"),
        ({}, "#/terms"),
        ({"terms": {"spend": {"input": "total_spend"}}, "extra": 1}, "#/extra"),
        ({"description": 5, "terms": DEFAULT_FORMULA["terms"]}, "#/description"),
    ],
)
async def test_malformed_body_is_422_and_changes_nothing(api, db, body, pointer):
    before = await snapshot(db)
    r = await api.post(URL, json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == [pointer]
    assert await snapshot(db) == before


async def test_empty_terms_names_the_formula(api):
    r = await api.post(f"{URL}/validate", json={"terms": {}})
    assert r.status_code == 422
    assert (r.json()["term"], r.json()["field"]) == ("(formula)", "terms")


async def test_validate_dry_run(api, db):
    before = await snapshot(db)
    r = await api.post(f"{URL}/validate", json=DEFAULT_FORMULA)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["valid"] is True
    assert body["sample"] is None
    assert [t["name"] for t in body["terms"]] == list(DEFAULT_FORMULA["terms"])
    assert body["terms"][0] == {
        "name": "spend",
        "input": "total_spend",
        "rule": DEFAULT_FORMULA["terms"]["spend"]["rule"],
    }
    assert await snapshot(db) == before


async def test_validate_with_sample_explains_each_term(api):
    sample = {
        "total_spend": "1250.00",
        "monthly_frequency": 2.5,
        "monthly_avg_spend": 60,
        "payment_terms": "cash",
        "tenure_months": 100,
        "declared_budget": 5000,
        "share_of_wallet": 0.25,
        "brand_contribution": None,
    }
    r = await api.post(f"{URL}/validate", json={**DEFAULT_FORMULA, "sample": sample})
    assert r.status_code == 200, r.text
    result = r.json()["sample"]
    points = {row["term"]: row["points"] for row in result["terms"]}
    assert points == {
        "spend": "12.50",
        "monthly_frequency": "10.00",
        "monthly_average": "5.00",
        "credit": "12.00",
        "loyalty": "15.00",
        "growth_potential": "3.75",
        "brand_contribution": "0.00",
    }
    assert result["total"] == "58.25"
    growth = next(row for row in result["terms"] if row["term"] == "growth_potential")
    assert growth["value"] == 3750.0
    brand = next(row for row in result["terms"] if row["term"] == "brand_contribution")
    assert brand["value"] is None


@pytest.mark.parametrize(
    ("sample", "pointer"),
    [
        ({"total_spent": 1}, "#/sample/total_spent"),
        ({"payment_terms": "prepayed"}, "#/sample/payment_terms"),
        ({"total_spend": "lots"}, "#/sample/total_spend"),
        ({"total_spend": True}, "#/sample/total_spend"),
    ],
)
async def test_bad_sample_is_422(api, sample, pointer):
    r = await api.post(f"{URL}/validate", json={**DEFAULT_FORMULA, "sample": sample})
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == [pointer]


async def test_activation_switches_and_retires(api, db):
    v2 = (await create(api))["version"]
    r = await api.post(f"{URL}/{v2}/activate", headers=idem())
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["version"], body["status"], body["previous_version"], body["changed"]) == (v2, "active", 1, True)
    assert body["activated_by"] == "admin-1"
    assert body["activated_at"] is not None
    assert "POST /api/v1/scores/recompute" in body["note"]
    rows = {r["version"]: r["status"] for r in await db.fetch("SELECT version, status FROM formula_versions")}
    assert rows == {1: "retired", 2: "active"}
    assert (await api.get(f"{URL}/active")).json()["version"] == v2


async def test_reactivating_a_retired_version_rolls_back(api, db):
    v2 = (await create(api))["version"]
    await api.post(f"{URL}/{v2}/activate", headers=idem())
    r = await api.post(f"{URL}/1/activate", headers=idem())
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["previous_version"], r.json()["activated_by"]) == ("active", v2, "admin-1")
    rows = {r["version"]: r["status"] for r in await db.fetch("SELECT version, status FROM formula_versions")}
    assert rows == {1: "active", 2: "retired"}


async def test_activating_the_active_version_is_a_noop(api, db):
    before = await db.fetch("SELECT * FROM formula_versions ORDER BY version")
    r = await api.post(f"{URL}/1/activate", headers=idem())
    assert r.status_code == 200, r.text
    assert (r.json()["changed"], r.json()["previous_version"], r.json()["status"]) == (False, None, "active")
    assert await db.fetch("SELECT * FROM formula_versions ORDER BY version") == before


def by_name(parsed: Formula) -> dict[str, Term]:
    return {t.name: t for t in parsed.terms}


async def test_active_formula_for_the_engine(api, db, settings):
    from crm_shared.db import create_engine, create_sessionmaker

    engine = create_engine(settings.async_database_url, application_name="test")
    try:
        async with create_sessionmaker(engine)() as session:
            version, parsed = await active_formula(session)
            # jsonb keeps object keys in its own order, so compare the terms by name
            assert version == 1
            assert by_name(parsed) == by_name(validate(DEFAULT_FORMULA))
            extra = {"input": "share_of_wallet", "rule": {"type": "linear", "points_per_unit": 10}}
            v2 = (await create(api, formula(extra=extra)))["version"]
            await api.post(f"{URL}/{v2}/activate", headers=idem())
            version, parsed = await active_formula(session)
            assert version == v2
            assert by_name(parsed)["extra"].input == "share_of_wallet"
            await db.execute("UPDATE formula_versions SET status = 'retired'")
            with pytest.raises(NoActiveFormula):
                await active_formula(session)
    finally:
        await engine.dispose()


async def test_list_newest_first_paginated_and_filtered(api):
    for _ in range(4):
        await create(api)
    await api.post(f"{URL}/3/activate", headers=idem())
    first = await api.get(URL, params={"limit": 2})
    assert first.status_code == 200
    page1 = first.json()
    assert [f["version"] for f in page1["items"]] == [5, 4]
    page2 = (await api.get(URL, params={"limit": 2, "cursor": page1["next_cursor"]})).json()
    assert [f["version"] for f in page2["items"]] == [3, 2]
    page3 = (await api.get(URL, params={"limit": 2, "cursor": page2["next_cursor"]})).json()
    assert [f["version"] for f in page3["items"]] == [1]
    assert page3["next_cursor"] is None
    drafts = (await api.get(URL, params={"status": "draft"})).json()
    assert [f["version"] for f in drafts["items"]] == [5, 4, 2]
    retired = (await api.get(URL, params={"status": "retired"})).json()
    assert [(f["version"], f["status"]) for f in retired["items"]] == [(1, "retired")]
    # a cursor is bound to its filter
    other = await api.get(URL, params={"limit": 2, "status": "draft", "cursor": page1["next_cursor"]})
    assert other.status_code == 400
    assert (await api.get(URL, params={"status": "gone"})).status_code == 422


async def test_not_found(api, db):
    before = await snapshot(db)
    assert (await api.get(f"{URL}/99")).status_code == 404
    r = await api.post(f"{URL}/99/activate", headers=idem())
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert (await api.get(f"{URL}/0")).status_code == 422
    assert (await api.get(f"{URL}/{2**40}")).status_code == 422
    assert await snapshot(db) == before
    await db.execute("UPDATE formula_versions SET status = 'retired'")
    none = await api.get(f"{URL}/active")
    assert none.status_code == 404
    assert "activate" in none.json()["detail"]


async def test_analyst_cannot_write(reader, db):
    before = await snapshot(db)
    assert (await reader.post(URL, json=formula(), headers=idem())).status_code == 403
    assert (await reader.post(f"{URL}/1/activate", headers=idem())).status_code == 403
    assert (await reader.post(f"{URL}/validate", json=DEFAULT_FORMULA)).status_code == 403  # as at the gateway
    assert (await reader.get(URL)).status_code == 200
    assert await snapshot(db) == before


async def test_no_scope_cannot_read(settings):
    from crm_scoring.main import create_app
    from crm_shared.testing import app_client, user_headers

    headers = user_headers("x", "customers:read", service="scoring")
    async with app_client(create_app(settings), headers=headers) as c:
        assert (await c.get(URL)).status_code == 403
        assert (await c.post(f"{URL}/validate", json=DEFAULT_FORMULA)).status_code == 403


async def test_terms_keep_the_order_they_were_written_in(api):
    terms = {
        "zeta": {"input": "total_spend", "rule": {"type": "linear", "points_per_unit": 1}},
        "alpha_long_name": {"input": "tenure_months", "rule": {"type": "linear", "points_per_unit": 1}},
        "mid": {"input": "monthly_frequency", "rule": {"type": "linear", "points_per_unit": 1}},
    }
    created = await api.post(URL, json={"terms": terms}, headers=idem())
    assert created.status_code == 201, created.text
    read = (await api.get(created.headers["location"])).json()
    assert list(read["terms"]) == ["zeta", "alpha_long_name", "mid"]
