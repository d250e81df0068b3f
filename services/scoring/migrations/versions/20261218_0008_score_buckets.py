"""score buckets (issue 13): customers per (measure, stage, abc_class, log-spaced bucket) with the sums of the
value and of its square, for the Pareto curve (total spend, net refunds as 0) and the CLV histogram; kept by
statement-level triggers on customer_scores appending signed deltas, as the score cells are (see
crm_scoring/distributions/buckets.py); filled here from the current scores

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-18 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = "measure, stage, abc_class, bucket"
BUCKETS = f"INSERT INTO score_buckets ({KEYS}, n, total, squares)"
MEASURES = {"clv": "clv", "spend": "greatest(total_spend, 0)"}

# 100 buckets a decade from a cent: bucket k >= 1 holds [0.01 * 10^((k-1)/100), 0.01 * 10^(k/100)), 0 holds 0,
# -k mirrors k, null stays null. float8 log is monotone, so every bucket is one interval of values.
BUCKET_FN = """
CREATE FUNCTION score_bucket(v numeric) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN v > 0 THEN 1 + floor(100 * log(v::float8 * 100))
                WHEN v < 0 THEN -1 - floor(100 * log(-v::float8 * 100))
                WHEN v = 0 THEN 0 END::smallint
$fn$
"""


def _of(table: str, sign: str) -> str:
    """(measure, stage, abc_class, bucket, n, total, squares) of `table`'s rows, signed, in one pass."""
    values = ", ".join(f"('{m}', {v})" for m, v in MEASURES.items())
    return (
        f"SELECT x.measure, stage, abc_class, score_bucket(x.v) AS bucket, {sign} * count(*) AS n, "
        f"{sign} * coalesce(sum(x.v), 0) AS total, {sign} * coalesce(sum(x.v * x.v), 0) AS squares "
        f"FROM {table}, LATERAL (VALUES {values}) AS x(measure, v) "
        "GROUP BY x.measure, stage, abc_class, score_bucket(x.v)"
    )


def _delta(*parts: tuple[str, str]) -> str:
    union = " UNION ALL ".join(_of(t, s) for t, s in parts)
    return (
        f"{BUCKETS} SELECT {KEYS}, sum(n), sum(total), sum(squares) FROM ({union}) AS d "
        f"GROUP BY {KEYS} HAVING sum(n) <> 0 OR sum(total) <> 0 OR sum(squares) <> 0"
    )


# Net change per bucket of one statement (an update that moves nobody's values adds nothing); about once in
# 50 statements, fold the rows into one per bucket.
TRACK = f"""
CREATE FUNCTION score_buckets_track() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_delta(("new_rows", "1"))};
    ELSIF TG_OP = 'DELETE' THEN
        {_delta(("old_rows", "-1"))};
    ELSE
        {_delta(("new_rows", "1"), ("old_rows", "-1"))};
    END IF;
    IF random() < 0.02 THEN
        PERFORM score_buckets_compact();
    END IF;
    RETURN NULL;
END
$fn$
"""

# One compaction at a time (as score_cells_compact): the others skip it.
COMPACT = f"""
CREATE FUNCTION score_buckets_compact() RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('score_buckets_compact')) THEN
        RETURN false;
    END IF;
    WITH gone AS (DELETE FROM score_buckets RETURNING *)
    {BUCKETS} SELECT {KEYS}, sum(n), sum(total), sum(squares) FROM gone GROUP BY {KEYS} HAVING sum(n) <> 0;
    RETURN true;
END
$fn$
"""

TRIGGERS = {
    "score_buckets_insert": "AFTER INSERT ON customer_scores REFERENCING NEW TABLE AS new_rows",
    "score_buckets_update": "AFTER UPDATE ON customer_scores REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "score_buckets_delete": "AFTER DELETE ON customer_scores REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.create_table(
        "score_buckets",
        sa.Column("measure", sa.String(length=8), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("abc_class", sa.String(length=1), nullable=True),
        sa.Column("bucket", sa.SmallInteger(), nullable=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("squares", sa.Numeric(), nullable=False),
    )
    op.execute(BUCKET_FN)
    op.execute(COMPACT)
    op.execute(TRACK)
    # Writers wait while the buckets are filled, so none is counted twice or missed.
    op.execute("LOCK TABLE customer_scores IN SHARE MODE")
    op.execute(f"{BUCKETS} {_of('customer_scores', '1')}")
    for name, when in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION score_buckets_track()")


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON customer_scores")
    op.execute("DROP FUNCTION score_buckets_track()")
    op.execute("DROP FUNCTION score_buckets_compact()")
    op.execute("DROP FUNCTION score_bucket(numeric)")
    op.drop_table("score_buckets")
