"""Rule sets over HTTP: read all or one (with its ETag), replace one with If-Match (428 without, 412 when
stale), validated by the rule set's model with pointers to the bad fields."""

import json
import uuid
from typing import Any

import pytest

from crm_scoring.rules.schemas import RULE_SETS, defaults

URL = "/api/v1/scores/rules"


def idem(**extra: str) -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4()), **extra}


async def snapshot(db) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a rule-set request may touch: compare before/after to prove a refusal changed nothing."""
    out = {}
    for table in ("rule_sets", "idempotency_keys", "outbox_messages"):
        rows = await db.fetch(f"SELECT * FROM {table}")
        out[table] = sorted((tuple(r.values()) for r in rows), key=repr)
    return out


def segments() -> dict[str, Any]:
    return json.loads(json.dumps(defaults()["rfm_segments"]))


async def test_list_all_rule_sets(reader):
    r = await reader.get(URL)
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(body) == sorted(RULE_SETS)
    assert {name: rs["rules"] for name, rs in body.items()} == defaults()
    assert all(rs["version"] == 1 and rs["updated_by"] is None for rs in body.values())
    assert body["abc"]["updated_at"].endswith(("Z", "+00:00"))


async def test_get_one_with_etag(reader):
    r = await reader.get(f"{URL}/abc")
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"1"'
    assert r.json()["rules"] == {"a": 0.8, "b": 0.15, "gold_share": 0.05, "drag_days": 365}
    assert r.json()["name"] == "abc"


async def test_unknown_rule_set_is_404_listing_the_known(api, db):
    before = await snapshot(db)
    r = await api.get(f"{URL}/abcd")
    assert r.status_code == 404
    assert r.json()["known"] == sorted(RULE_SETS)
    assert "lifecycle" in r.json()["detail"]
    put = await api.put(f"{URL}/abcd", json={"a": 0.7}, headers=idem(**{"If-Match": '"1"'}))
    assert put.status_code == 404
    assert await snapshot(db) == before


async def test_replace_bumps_the_version(api, db):
    rules = {"a": 0.7, "b": 0.2, "gold_share": 0.1, "drag_days": 180}
    r = await api.put(f"{URL}/abc", json=rules, headers=idem(**{"If-Match": '"1"'}))
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    body = r.json()
    assert (body["rules"], body["version"], body["updated_by"]) == (rules, 2, "admin-1")
    row = await db.fetchrow("SELECT rules::text AS rules, version, updated_by FROM rule_sets WHERE name = 'abc'")
    assert (json.loads(row["rules"]), row["version"], row["updated_by"]) == (rules, 2, "admin-1")
    got = await api.get(f"{URL}/abc")
    assert got.headers["etag"] == '"2"'
    assert got.json() == body


async def test_replace_fills_defaults_and_keeps_version_when_unchanged(api, db):
    r = await api.put(f"{URL}/changes", json={"p_alive": 0.1}, headers=idem(**{"If-Match": '"1"'}))
    assert r.status_code == 200, r.text
    assert r.json()["rules"] == {"composite_points": 1.0, "clv_relative": 0.05, "p_alive": 0.1}
    assert r.json()["version"] == 2
    again = await api.put(f"{URL}/changes", json={"p_alive": 0.1}, headers=idem(**{"If-Match": 'W/"2"'}))
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 2
    assert await db.fetchval("SELECT version FROM rule_sets WHERE name = 'changes'") == 2


async def test_replace_segments(api):
    body = segments()
    body["segments"].insert(0, {"name": "whales", "r": [5, 5], "f": [5, 5], "m": [5, 5]})
    r = await api.put(f"{URL}/rfm_segments", json=body, headers=idem(**{"If-Match": '"1"'}))
    assert r.status_code == 200, r.text
    assert r.json()["rules"]["segments"][0] == {"name": "whales", "r": [5, 5], "f": [5, 5], "m": [5, 5]}
    # stored as sent: an omitted range (all of 1-5) stays omitted
    assert r.json()["rules"]["segments"][2] == {"name": "loyal", "r": [3, 5], "f": [3, 5]}
    assert len(r.json()["rules"]["segments"]) == 12


async def test_if_match_required_and_checked(api, db):
    before = await snapshot(db)
    missing = await api.put(f"{URL}/abc", json={"a": 0.7}, headers=idem())
    assert missing.status_code == 428
    assert "If-Match" in missing.json()["detail"]
    for stale in ('"2"', '"0"', "garbage", "*"):
        r = await api.put(f"{URL}/abc", json={"a": 0.7}, headers=idem(**{"If-Match": stale}))
        assert r.status_code == 412, (stale, r.text)
        assert "current version 1" in r.json()["detail"]
    assert await snapshot(db) == before


async def test_a_concurrent_change_makes_the_old_etag_stale(api, db):
    ok = await api.put(f"{URL}/lifecycle", json={"churned_days": 400}, headers=idem(**{"If-Match": '"1"'}))
    assert ok.status_code == 200, ok.text
    before = await snapshot(db)
    late = await api.put(f"{URL}/lifecycle", json={"churned_days": 500}, headers=idem(**{"If-Match": '"1"'}))
    assert late.status_code == 412
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("name", "body", "pointers"),
    [
        ("abc", {"a": 1.5}, ["#/a"]),
        ("abc", {"a": 0.9, "b": 0.2}, ["#"]),
        ("abc", {"a": 0.8, "c": 1}, ["#/c"]),
        ("abc", {"drag_days": "soon"}, ["#/drag_days"]),
        ("lifecycle", {"churned_p_alive": 2, "growth_trend": -1}, ["#/churned_p_alive", "#/growth_trend"]),
        ("clv", {"horizons_days": [90, 90]}, ["#"]),
        ("rfm_segments", {"segments": []}, ["#/segments"]),
        ("rfm_segments", {}, ["#/segments"]),
    ],
)
async def test_invalid_rules_are_422_with_pointers_and_change_nothing(api, db, name, body, pointers):
    before = await snapshot(db)
    r = await api.put(f"{URL}/{name}", json=body, headers=idem(**{"If-Match": '"1"'}))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["pointer"] for e in r.json()["errors"]] == pointers
    assert await snapshot(db) == before


def _segments_with(index: int, **change: Any) -> dict[str, Any]:
    body = segments()
    body["segments"][index] = {**body["segments"][index], **change}
    return body


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (_segments_with(3, r="x"), "#/segments/3/r"),
        (_segments_with(3, r=[5, 3]), "#/segments/3/r"),
        (_segments_with(3, f=[0, 2]), "#/segments/3/f"),
        (_segments_with(4, name="loyal"), "#/segments/4/name"),
        (_segments_with(2, name="Bad Name"), "#/segments/2/name"),
        ({"segments": segments()["segments"][:-1]}, "#/segments"),
        ({"segments": [*segments()["segments"], {"name": "never"}]}, "#/segments/11"),
    ],
)
async def test_bad_segments_point_at_the_segment(api, db, body, pointer):
    before = await snapshot(db)
    r = await api.put(f"{URL}/rfm_segments", json=body, headers=idem(**{"If-Match": '"1"'}))
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == [pointer], r.json()
    assert await snapshot(db) == before


async def test_a_rule_set_missing_from_the_table_reads_as_defaults(api, db):
    await db.execute("DELETE FROM rule_sets WHERE name = 'clv'")
    r = await api.get(f"{URL}/clv")
    assert r.status_code == 200
    assert r.headers["etag"] == '"0"'
    assert (r.json()["rules"], r.json()["version"], r.json()["updated_at"]) == (defaults()["clv"], 0, None)
    assert (await api.get(URL)).json()["clv"]["version"] == 0
    stale = await api.put(f"{URL}/clv", json={"margin": 0.4}, headers=idem(**{"If-Match": '"1"'}))
    assert stale.status_code == 412
    put = await api.put(f"{URL}/clv", json={"margin": 0.4}, headers=idem(**{"If-Match": '"0"'}))
    assert put.status_code == 200, put.text
    assert (put.json()["version"], put.json()["rules"]["margin"]) == (1, 0.4)
    assert await db.fetchval("SELECT version FROM rule_sets WHERE name = 'clv'") == 1


async def test_replay_with_the_same_idempotency_key(api, db):
    headers = idem(**{"If-Match": '"1"'})
    first = await api.put(f"{URL}/abc", json={"a": 0.75}, headers=headers)
    again = await api.put(f"{URL}/abc", json={"a": 0.75}, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert await db.fetchval("SELECT version FROM rule_sets WHERE name = 'abc'") == 2


async def test_analyst_cannot_write(reader, db):
    before = await snapshot(db)
    r = await reader.put(f"{URL}/abc", json={"a": 0.7}, headers=idem(**{"If-Match": '"1"'}))
    assert r.status_code == 403
    assert await snapshot(db) == before
