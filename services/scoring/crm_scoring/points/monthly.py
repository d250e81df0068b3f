"""The batch's points of the month: each scored customer's composite score as of the run, one ledger row per
customer and month, rewritten when a rerun in the same month finds it changed.

Only the batch writes the ledger (one run at a time), so the month's rows read in the batch's snapshot are
what it will write over: the rows to insert and to update are decided on the client, and the statements touch
only those (a rerun at 1M scores with 2% changed took 2.2 s comparing every row in SQL).
"""

from __future__ import annotations

from datetime import date

import asyncpg
import numpy as np

from ..compute.binary_copy import copy_in, copy_out
from ..compute.cents import cents
from ..compute.prior import match

_MONTH_COLUMNS = (("customer_id", "uuid"), ("points", "int8"), ("formula_version", "int4"))
_READ_SQL = """
SELECT customer_id, (points * 100)::int8, coalesce(formula_version, -1) FROM points_ledger WHERE month = $1
"""
_ROW_COLUMNS = (*_MONTH_COLUMNS, ("new", "bool"))
_WRITE_SQL = """
WITH updated AS (
    UPDATE points_ledger l SET points = r.points * 0.01, formula_version = NULLIF(r.formula_version, -1),
                               run_id = $2, recorded_at = now()
    FROM ledger_rows r
    WHERE NOT r.new AND l.month = $1 AND l.customer_id = r.customer_id
    RETURNING 1
), added AS (
    INSERT INTO points_ledger (customer_id, month, points, formula_version, run_id)
    SELECT customer_id, $1, points * 0.01, NULLIF(formula_version, -1), $2 FROM ledger_rows WHERE new
    RETURNING 1
)
SELECT (SELECT count(*) FROM updated) + (SELECT count(*) FROM added)
"""


def month_of(day: date) -> date:
    return date(day.year, day.month, 1)


async def read_month(conn: asyncpg.Connection, month: date) -> dict[str, np.ndarray]:
    """The ledger's rows of `month` (points in cents, formula version -1 for none)."""
    return await copy_out(conn, _READ_SQL, _MONTH_COLUMNS, month)


async def write_month(
    conn: asyncpg.Connection,
    month: date,
    run_id: int,
    scored: dict[str, np.ndarray],
    recorded: dict[str, np.ndarray],
) -> int:
    """The month's points of the scored customers where the ledger (`recorded`, read by `read_month` in the
    batch's snapshot) lacks them or holds others, in the caller's transaction; returns the rows written."""
    points = cents(scored["composite"])
    version = scored["formula_version"].astype(np.int32)
    at = match(scored["customer_id"], recorded["customer_id"])
    new = at < 0
    changed = new
    if len(recorded["customer_id"]):
        was = np.where(new, 0, at)
        changed = new | (recorded["points"][was] != points) | (recorded["formula_version"][was] != version)
    rows = np.flatnonzero(changed)
    if not len(rows):
        return 0
    await conn.execute("DROP TABLE IF EXISTS ledger_rows")
    await conn.execute(
        "CREATE TEMP TABLE ledger_rows (customer_id uuid, points int8, formula_version int4, new bool) ON COMMIT DROP"
    )
    values = {
        "customer_id": scored["customer_id"][rows],
        "points": points[rows],
        "formula_version": version[rows],
        "new": new[rows],
    }
    await copy_in(conn, "ledger_rows", _ROW_COLUMNS, values)
    return int(await conn.fetchval(_WRITE_SQL, month, run_id))
