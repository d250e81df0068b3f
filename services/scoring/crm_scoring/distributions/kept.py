"""What the batch's swap does for each table kept by triggers on customer_scores (the score cells and
buckets): carry it over to the table swapped in with as little as possible under the swap's lock.

Before the lock (`prepare_sql`, while writers go on, committed on any connection) the next table is aggregated
into a scratch table; under the lock only the customers the catch-up replaces are taken out of it and put back
(`adjust_sql`, a handful of rows), then the kept table is replaced from it and the scratch table dropped
(`replace_sql`), and the next table gets the triggers (`trigger_sql`). Aggregating a million customers under
the lock would hold writers for seconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kept:
    table: str  # the kept table, whose migration created the function `<table>_track()`
    key: tuple[str, ...]
    sums: tuple[str, ...]  # the first one counts customers
    of: str  # SELECT of the key and the sums from `{table}` (a table or a subquery with an alias)
    # Its aggregation's cost against an index build's on the same table (one backend each): the batch
    # starts the longest jobs first (compute/swap.index_next).
    weight: float = 1.0

    @property
    def staged(self) -> str:
        return f"{self.table}_next"

    def prepare_sql(self, table: str) -> list[str]:
        """The aggregate of `table` into an unlogged scratch table (a failed run's is replaced here)."""
        return [
            f"DROP TABLE IF EXISTS {self.staged}",
            f"CREATE UNLOGGED TABLE {self.staged} AS {self.of.format(table=table)}",
        ]

    def adjust_sql(self, rows: str, sign: int) -> str:
        """Add (sign 1) or take out (-1) the aggregate of `rows` to the prepared one."""
        signed = ", ".join(f"{sign} * {s}" for s in self.sums)
        return (
            f"INSERT INTO {self.staged} SELECT {', '.join(self.key)}, {signed} FROM ({self.of.format(table=rows)}) AS d"
        )

    def replace_sql(self) -> list[str]:
        """The kept table replaced by the prepared aggregate, one row per key; the scratch table dropped."""
        keys = ", ".join(self.key)
        sums = ", ".join(f"sum({s})" for s in self.sums)
        return [
            f"DELETE FROM {self.table}",
            f"INSERT INTO {self.table} ({keys}, {', '.join(self.sums)}) SELECT {keys}, {sums} FROM {self.staged} "
            f"GROUP BY {keys} HAVING sum({self.sums[0]}) <> 0",
            f"DROP TABLE {self.staged}",
        ]

    def trigger_sql(self, table: str) -> list[str]:
        """The statement triggers that keep the kept table current from `table`'s writes."""
        track = f"FOR EACH STATEMENT EXECUTE FUNCTION {self.table}_track()"
        return [
            f"CREATE TRIGGER {self.table}_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows {track}",
            f"CREATE TRIGGER {self.table}_update AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
            f"NEW TABLE AS new_rows {track}",
            f"CREATE TRIGGER {self.table}_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows {track}",
        ]
