"""Binary COPY into native column arrays: the values PostgreSQL sent, for many rows and for none; a NULL or a
variable-width column refused."""

import asyncpg
import numpy as np
import pytest

from crm_scoring.compute.binary_copy import copy_out, unix_seconds
from crm_scoring.currency_rates.convert import RateTable

COLUMNS = (("customer_id", "uuid"), ("at", "float8"), ("net", "float8"), ("currency", "int2"))
QUERY = """
SELECT md5(i::text)::uuid, (i * 0.5)::float8, (i % 997)::float8 / 7, (i % 5)::int2
FROM generate_series(1, $1) AS i
"""


@pytest.mark.parametrize("expected_rows", [0, 50_000, 120_000, 1_000_000])
async def test_columns_hold_the_rows_values(db: asyncpg.Connection, expected_rows: int) -> None:
    """The stream decoded chunk by chunk (rows split between chunks), whatever the size allocated first."""
    rows = 120_000
    streamed = await copy_out(db, QUERY, COLUMNS, rows, expected_rows=expected_rows)
    fetched = await db.fetch(QUERY, rows)
    assert set(streamed) == {name for name, _ in COLUMNS}
    for name, _ in COLUMNS:
        assert len(streamed[name]) == rows
        assert streamed[name].dtype.isnative
        assert streamed[name].flags.c_contiguous
    assert [bytes(v) for v in streamed["customer_id"][::997]] == [r[0].bytes for r in fetched[::997]]
    for i, name in enumerate(("at", "net", "currency"), start=1):
        assert streamed[name].tolist() == [r[i] for r in fetched], name
    assert streamed["at"][-1] == rows * 0.5
    assert streamed["customer_id"][0].tobytes().hex() == "c4ca4238a0b923820dcc509a6f75849b"  # md5('1')


async def test_no_rows(db: asyncpg.Connection) -> None:
    streamed = await copy_out(db, QUERY, COLUMNS, 0)
    assert all(len(v) == 0 for v in streamed.values())
    assert streamed["at"].dtype == np.float64


async def test_a_null_is_refused(db: asyncpg.Connection) -> None:
    with pytest.raises(RuntimeError, match="not fixed-width"):
        await copy_out(db, "SELECT NULL::uuid, 1.0::float8, 2.0::float8, 1::int2", COLUMNS)
    late_null = QUERY.replace("(i % 5)::int2", "CASE WHEN i = 100000 THEN NULL ELSE (i % 5)::int2 END")
    with pytest.raises(RuntimeError, match="not fixed-width"):
        await copy_out(db, late_null, COLUMNS, 120_000)


async def test_a_column_of_another_type_is_refused(db: asyncpg.Connection) -> None:
    # numeric is variable-width on the wire: the rows drift out of step, and the field counts say so
    with pytest.raises(RuntimeError, match="not fixed-width"):
        await copy_out(db, QUERY.replace("(i * 0.5)::float8", "i * 0.5"), COLUMNS, 120_000)


async def test_timestamps_and_currency_codes_as_sent(db: asyncpg.Connection) -> None:
    """timestamptz in its binary form (before and after 2000, to the microsecond) and char(3) as three bytes,
    against PostgreSQL's own epoch and text."""
    query = """
    SELECT t, ('1990-01-01'::timestamptz + i * interval '7 days 3 hours 0.000321 seconds'),
           (ARRAY['EUR', 'JPY', 'US'])[i % 3 + 1]::char(3)
    FROM generate_series(1, 2000) AS i, LATERAL (SELECT i AS t) AS x
    """
    streamed = await copy_out(db, query, (("i", "int4"), ("at", "timestamptz"), ("cur", "char(3)")))
    expected = await db.fetch(
        """SELECT extract(epoch FROM '1990-01-01'::timestamptz + i * interval '7 days 3 hours 0.000321 seconds')
                  ::float8 AS epoch FROM generate_series(1, 2000) AS i"""
    )
    np.testing.assert_allclose(unix_seconds(streamed["at"]), [r["epoch"] for r in expected], rtol=0, atol=1e-6)
    assert streamed["cur"][:3].tolist() == [b"JPY", b"US ", b"EUR"]  # blank-padded to three bytes


def test_currency_codes_by_the_rate_table() -> None:
    rates = RateTable(["EUR", "USD", "JPY"], [np.zeros(0, np.int64)] * 3, [np.zeros(0)] * 3)
    sent = np.array([b"JPY", b"EUR", b"GBP", b"USD", b"US ", b"EUR"], dtype="S3")
    assert rates.codes(sent).tolist() == [3, 1, 0, 2, 0, 1]
    assert rates.codes(np.array([], dtype="S3")).tolist() == []
