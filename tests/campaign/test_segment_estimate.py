"""Segment previews on a large audience: counted on a uniform random sample (sample_key < p) with a 95%
interval that covers the exact count at its stated rate over repeated draws of the sample; small audiences
and explicit customer lists stay exact; bad settings are refused."""

import hashlib
import math
import uuid

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from crm_campaign.audience.models import SAMPLED_COLUMNS
from crm_campaign.config import Settings
from crm_campaign.main import create_app
from crm_campaign.segments.estimate import PreviewSettings, estimate, sample_fraction
from crm_campaign.segments.rules import FIELDS
from crm_shared.testing import app_client
from tests.campaign.conftest import ADMIN

ROWS = 20_000
SAMPLE_ROWS = 2_000  # p = 0.1 of the 20k-row table
# Rules and the same selection written by hand in SQL (merged customers never match).
BROAD = {"field": "stage", "op": "in", "value": ["growth", "maturity"]}
BROAD_SQL = "stage IN ('growth', 'maturity')"
NARROW = {"and": [{"field": "clv", "op": "gte", "value": "900"}, {"field": "abc_class", "op": "eq", "value": "A"}]}
NARROW_SQL = "clv >= 900 AND abc_class = 'A'"


def _settings(settings: Settings) -> Settings:
    """The test's settings, the preview's fields read from the environment (CAMPAIGN_PREVIEW_...)."""
    return Settings(database_url=settings.database_url, environment="test", log_json=False, log_level="WARNING")


async def _fill(db: asyncpg.Connection) -> None:
    """ROWS deterministic customers (1 in 20 merged), analysed so the planner's row estimate is known."""
    await db.execute(
        """
        INSERT INTO audience_customers (customer_id, stage, clv, abc_class, merged_into)
        SELECT md5(i::text)::uuid, (ARRAY['growth', 'maturity', 'decline', 'churned', 'introduction'])[i % 5 + 1],
               (i * 7919 % 1000)::numeric, (ARRAY['A', 'B', 'C'])[i % 3 + 1],
               CASE WHEN i % 20 = 0 THEN md5('x')::uuid END
        FROM generate_series(1, $1) AS i""",
        ROWS,
    )
    await db.execute("ANALYZE audience_customers")


async def _exact(db: asyncpg.Connection, where: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM audience_customers WHERE merged_into IS NULL AND {where}"))


async def _preview(api: httpx.AsyncClient, rules: dict) -> dict:
    r = await api.post("/api/v1/segments/preview", json={"rules": rules, "sample": 0})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_interval_matches_a_hand_computation() -> None:
    # x = 0 of p = 1/2: the highest M with P(X = 0) = 2^-M above 2.5% is 5 (2^-5 = 3.1%, 2^-6 = 1.6%).
    assert estimate(0, 0.5) == type(estimate(0, 0.5))(count=0, low=0, high=5)
    # x = 1 of p = 1/2: P(X <= 1 | M) = (M + 1) / 2^M is 3.5% at M = 8 and 2.0% at 9; P(X >= 1 | 1) = 1/2.
    assert (estimate(1, 0.5).low, estimate(1, 0.5).high) == (1, 8)
    # Large x: the exact interval agrees with the normal approximation x/p +- 1.96 sqrt(x (1-p)) / p.
    e, x, p = estimate(1200, 0.025), 1200, 0.025
    half = 1.96 * math.sqrt(x * (1 - p)) / p
    assert e.count == 48_000
    assert abs(e.low - (x / p - half)) / half < 0.03
    assert abs(e.high - (x / p + half)) / half < 0.03


def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    with pytest.raises(ValidationError, match="preview_exact_below"):
        PreviewSettings(preview_exact_below=-1)
    with pytest.raises(ValidationError, match="preview_sample_rows"):
        PreviewSettings(preview_sample_rows=10)
    monkeypatch.setenv("CAMPAIGN_PREVIEW_SAMPLE_ROWS", "ten")
    with pytest.raises(ValidationError, match="preview_sample_rows"):
        _settings(settings)
    monkeypatch.setenv("CAMPAIGN_PREVIEW_SAMPLE_ROWS", "5000")
    assert _settings(settings).preview_sample_rows == 5000
    # Never analysed (-1) or below the threshold: exact; above it, the share that reads ~sample rows.
    assert sample_fraction(-1, PreviewSettings()) is None
    assert sample_fraction(99_999, PreviewSettings()) is None
    assert sample_fraction(1_000_000, PreviewSettings()) == 0.025


def test_the_sampled_rows_index_holds_every_column_a_rule_reads() -> None:
    """Else a sample's count reads the heap again (18k of 34.5k pages at 1M: 100+ ms, not 11)."""
    for name, spec in FIELDS.items():
        column = "customer_id" if "a.customer_id" in spec.column else spec.column  # winback: a subquery by id
        assert column in SAMPLED_COLUMNS, name


async def test_small_audiences_are_counted_exactly(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    await _fill(db)  # 20k rows: under the default threshold of 100k
    for rules, where in ((BROAD, BROAD_SQL), (NARROW, NARROW_SQL)):
        body = await _preview(api, rules)
        n = await _exact(db, where)
        assert body["count_exact"] is True
        assert body["sample_size"] is None
        assert body["count"] == body["count_low"] == body["count_high"] == n


async def test_a_large_audience_is_estimated_and_the_interval_covers_the_count(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, db: asyncpg.Connection
) -> None:
    await _fill(db)
    truth = {"broad": await _exact(db, BROAD_SQL), "narrow": await _exact(db, NARROW_SQL)}
    live = await _exact(db, "true")
    covered = {"broad": 0, "narrow": 0}
    draws = 40  # seeded: the same draws every run
    monkeypatch.setenv("CAMPAIGN_PREVIEW_EXACT_BELOW", "1000")  # sample the 20k rows
    monkeypatch.setenv("CAMPAIGN_PREVIEW_SAMPLE_ROWS", str(SAMPLE_ROWS))
    app = create_app(_settings(settings))
    async with app_client(app, headers=ADMIN) as api:
        for seed in range(draws):
            # A new uniform draw of every row's key (seeded: the test is reproducible).
            await db.execute(f"SELECT setseed({(seed + 1) / (draws + 1)})")
            await db.execute("UPDATE audience_customers SET sample_key = random()")
            await db.execute("VACUUM audience_customers")
            for name, rules in (("broad", BROAD), ("narrow", NARROW)):
                body = await _preview(api, rules)
                assert body["count_exact"] is False
                assert body["count_low"] <= body["count"] <= body["count_high"]
                assert abs(body["sample_size"] - live * 0.1) < 6 * math.sqrt(live * 0.1)  # ~p of the live rows
                covered[name] += body["count_low"] <= truth[name] <= body["count_high"]
        # An explicit customer list is counted exactly whatever the audience size.
        ids = [str(uuid.UUID(hashlib.md5(str(i).encode()).hexdigest())) for i in (7, 8)]  # md5(i)::uuid
        listed = await _preview(api, {"field": "customer_id", "op": "in", "value": ids})
        assert listed["count_exact"] is True
        assert listed["count"] == 2
    # A 95% interval: at least 35 of 40 draws cover the exact count (each rule; 38 expected, and a true 95%
    # interval covers fewer than 35 of 40 with probability ~1.4%).
    assert covered["broad"] >= 35, covered
    assert covered["narrow"] >= 35, covered
