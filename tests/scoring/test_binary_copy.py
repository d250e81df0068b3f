"""Binary COPY into native column arrays: the values PostgreSQL sent, for many rows and for none; a NULL or a
variable-width column refused."""

import asyncpg
import numpy as np
import pytest

from crm_scoring.compute.binary_copy import columns, copy_out

COLUMNS = (("customer_id", "uuid"), ("at", "float8"), ("net", "float8"), ("currency", "int2"))
QUERY = """
SELECT md5(i::text)::uuid, (i * 0.5)::float8, (i % 997)::float8 / 7, (i % 5)::int2
FROM generate_series(1, $1) AS i
"""


async def test_columns_hold_the_rows_values(db: asyncpg.Connection) -> None:
    rows = 120_000
    records = await copy_out(db, QUERY, COLUMNS, rows)
    streamed = columns(records)
    assert set(streamed) == {name for name, _ in COLUMNS}
    for name, _ in COLUMNS:
        assert len(streamed[name]) == rows
        assert streamed[name].dtype.isnative
        assert streamed[name].flags.c_contiguous
        assert np.array_equal(streamed[name], records[name]), name
    assert streamed["at"][-1] == rows * 0.5
    assert streamed["customer_id"][0].tobytes().hex() == "c4ca4238a0b923820dcc509a6f75849b"  # md5('1')


async def test_no_rows(db: asyncpg.Connection) -> None:
    streamed = columns(await copy_out(db, QUERY, COLUMNS, 0))
    assert all(len(v) == 0 for v in streamed.values())
    assert streamed["at"].dtype == np.float64


async def test_a_null_is_refused(db: asyncpg.Connection) -> None:
    with pytest.raises(RuntimeError, match="not fixed-width"):
        await copy_out(db, "SELECT NULL::uuid, 1.0::float8, 2.0::float8, 1::int2", COLUMNS)


async def test_a_column_of_another_type_is_refused(db: asyncpg.Connection) -> None:
    # numeric is variable-width on the wire: the rows drift out of step, and the field counts say so
    with pytest.raises(RuntimeError, match="not fixed-width"):
        await copy_out(db, QUERY.replace("(i * 0.5)::float8", "i * 0.5"), COLUMNS, 120_000)
