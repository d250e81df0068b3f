"""Model fits over HTTP: the calibration in force (the latest) with each model's parameters and diagnostics,
and the history of calibrations; rows inserted here with SQL, as the batch job would write them."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

URL = "/api/v1/scores/models"
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def fits(r: float = 0.8) -> dict[str, Any]:
    def fit(model: str, params: dict[str, float], ll: float) -> dict[str, Any]:
        return {
            "model": model,
            "params": params,
            "log_likelihood": ll,
            "converged": True,
            "iterations": 31,
            "n_customers": 1000,
            "n_distinct": 800,
            "message": "CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH",
        }

    return {
        "bgnbd": fit("bgnbd", {"r": r, "alpha": 4.0, "a": 0.8, "b": 2.5}, -1240.0),
        "mbgnbd": fit("mbgnbd", {"r": r, "alpha": 4.0, "a": 0.8, "b": 2.5}, -1234.5),
        "gammagamma": fit("gammagamma", {"p": 6.25, "q": 3.74, "v": 15.44}, -4000.25),
    }


CUTS = {"recency": [10, 30, 90, 180], "frequency": [1, 2, 3, 5], "monetary": [50, 100, 200, 500], "abc": [1000, 200]}


async def insert(db, as_of: datetime, *, run_id: int | None = 1, fit: dict[str, Any] | None = None) -> int:
    return await db.fetchval(
        "INSERT INTO calibrations (as_of, run_id, fits, cuts, rules) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb)"
        " RETURNING id",
        as_of,
        run_id,
        json.dumps(fit if fit is not None else fits()),
        json.dumps(CUTS),
        json.dumps({"abc": {"a": 0.8, "b": 0.15}}),
    )


async def test_no_calibration_yet_is_404_with_a_hint(reader):
    r = await reader.get(URL)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert "POST /api/v1/scores/recompute" in r.json()["detail"]
    history = await reader.get(f"{URL}/history")
    assert history.status_code == 200
    assert history.json() == {"items": [], "next_cursor": None}


async def test_current_is_the_latest(reader, db):
    await insert(db, AS_OF - timedelta(days=30), run_id=1, fit=fits(0.5))
    latest = await insert(db, AS_OF, run_id=2)
    r = await reader.get(URL)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["run_id"]) == (latest, 2)
    assert datetime.fromisoformat(body["as_of"]) == AS_OF
    assert body["created_at"].endswith(("Z", "+00:00"))
    assert sorted(body["fits"]) == ["bgnbd", "gammagamma", "mbgnbd"]
    mbg = body["fits"]["mbgnbd"]
    assert mbg["params"] == {"r": 0.8, "alpha": 4.0, "a": 0.8, "b": 2.5}
    assert (mbg["model"], mbg["log_likelihood"], mbg["converged"], mbg["iterations"]) == ("mbgnbd", -1234.5, True, 31)
    assert (mbg["n_customers"], mbg["n_distinct"]) == (1000, 800)
    assert mbg["message"].startswith("CONVERGENCE")
    assert body["cuts"] == CUTS
    assert body["rules"] == {"abc": {"a": 0.8, "b": 0.15}}


async def test_partial_fit_reads_missing_fields_as_null(reader, db):
    await insert(db, AS_OF, fit={"gammagamma": {"params": {"p": 1.0, "q": 2.0, "v": 3.0}, "extra": "ignored"}})
    body = (await reader.get(URL)).json()
    gg = body["fits"]["gammagamma"]
    assert gg["params"] == {"p": 1.0, "q": 2.0, "v": 3.0}
    assert (gg["converged"], gg["log_likelihood"], gg["n_customers"]) == (None, None, None)
    assert "extra" not in gg


async def test_history_newest_first_paginated(reader, db):
    ids = [await insert(db, AS_OF + timedelta(days=i), run_id=i) for i in range(5)]
    first = (await reader.get(f"{URL}/history", params={"limit": 2})).json()
    assert [c["id"] for c in first["items"]] == ids[::-1][:2]
    assert "cuts" not in first["items"][0]
    assert "rules" not in first["items"][0]
    assert first["items"][0]["fits"]["bgnbd"]["params"]["r"] == 0.8
    second = (await reader.get(f"{URL}/history", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [c["id"] for c in second["items"]] == ids[::-1][2:4]
    third = (await reader.get(f"{URL}/history", params={"limit": 2, "cursor": second["next_cursor"]})).json()
    assert [c["id"] for c in third["items"]] == ids[:1]
    assert third["next_cursor"] is None
    bad = await reader.get(f"{URL}/history", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert bad.status_code == 400


async def test_needs_scores_read(settings):
    from crm_scoring.main import create_app
    from crm_shared.testing import app_client, user_headers

    headers = user_headers("x", "customers:read", service="scoring")
    async with app_client(create_app(settings), headers=headers) as c:
        assert (await c.get(URL)).status_code == 403
        assert (await c.get(f"{URL}/history")).status_code == 403
