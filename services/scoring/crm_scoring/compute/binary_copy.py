"""PostgreSQL binary COPY between NumPy arrays and the server.

A million-row result decoded row by row into Python objects costs seconds. Out: with every column fixed-width
and NOT NULL (nulls travel as NaN or sentinel codes), each COPY row is a fixed-size record, so NumPy reads each
chunk of the stream in one call. In: rows of any width (NULLs, texts, arrays) are packed column by column
(`Field`, `encode_rows`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
# PostgreSQL type -> big-endian NumPy type of its binary send format.
WIRE: dict[str, str] = {
    "uuid": "V16",
    "int2": ">i2",
    "int4": ">i4",
    "int8": ">i8",
    "float8": ">f8",
    "bool": "?",
    "timestamptz": ">i8",  # microseconds since 2000-01-01 UTC (see POSTGRES_EPOCH)
    "char(3)": "S3",  # a blank-padded char(3): always three bytes
    "numeric": "V20",  # written only, in the fixed six-digit form of compute/cents.numeric_binary
}
POSTGRES_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds: where PostgreSQL's binary timestamps count from


def binary_timestamp(instant: datetime) -> int:
    """An aware instant as a binary timestamptz: microseconds since 2000-01-01 UTC (exact)."""
    return (instant - datetime.fromtimestamp(POSTGRES_EPOCH, UTC)) // timedelta(microseconds=1)


def unix_seconds(microseconds: np.ndarray) -> np.ndarray:
    """Binary timestamptz values as Unix epoch seconds (float64, to the microsecond)."""
    return microseconds / 1e6 + POSTGRES_EPOCH


def row_dtype(columns: Sequence[tuple[str, str]]) -> np.dtype:
    """The record of one COPY row: a field count, then (length, value) per column."""
    fields: list[tuple[str, str]] = [("_n", ">i2")]
    for name, pg_type in columns:
        fields += [(f"_len_{name}", ">i4"), (name, WIRE[pg_type])]
    return np.dtype(fields)


class _Columns:
    """Growing native column arrays that binary COPY streams decode into, chunk by chunk, so no stream is ever
    held whole (at 10M orders one was 520 MB beside the 350 MB of values). Several streams may fill one set:
    a chunk is decoded and appended without an await, so their rows interleave whole."""

    def __init__(self, columns: Sequence[tuple[str, str]], capacity: int) -> None:
        self.dtype = row_dtype(columns)
        self.names = [name for name, _ in columns]
        self.values = {
            name: np.empty(max(capacity, 1024), dtype=self.dtype[name].newbyteorder("=")) for name in self.names
        }
        self.rows = 0

    def append(self, rows: np.ndarray) -> None:
        count = len(rows)
        capacity = len(self.values[self.names[0]])
        if self.rows + count > capacity:
            size = max(self.rows + count, capacity + capacity // 2)
            for name in self.names:
                grown = np.empty(size, dtype=self.values[name].dtype)
                grown[: self.rows] = self.values[name][: self.rows]
                self.values[name] = grown
        for name in self.names:
            self.values[name][self.rows : self.rows + count] = rows[name]
        self.rows += count

    def result(self) -> dict[str, np.ndarray]:
        out = {}
        for name in self.names:
            values = self.values[name]
            # An estimate well above the rows would keep its unused tail: copied down then.
            out[name] = values[: self.rows] if self.rows * 10 >= len(values) * 9 else values[: self.rows].copy()
        return out


class _Stream:
    """The sink of one binary COPY: its whole rows go to the columns, a row split between chunks waits."""

    def __init__(self, into: _Columns) -> None:
        self.into = into
        self.rest = b""  # the head of a row split between chunks (then the trailer)
        self.header = True

    async def __call__(self, chunk: bytes) -> None:
        data = self.rest + chunk if self.rest else chunk
        start = 0
        if self.header:
            if len(data) < len(SIGNATURE):
                self.rest = bytes(data)
                return
            if data[: len(SIGNATURE)] != SIGNATURE:
                raise RuntimeError("not a binary COPY stream (or one with header extensions)")
            start, self.header = len(SIGNATURE), False
        dtype = self.into.dtype
        count = (len(data) - start) // dtype.itemsize
        if count:
            rows = np.frombuffer(data, dtype=dtype, offset=start, count=count)
            if np.any(rows["_n"] != len(self.into.names)):
                raise RuntimeError("binary COPY rows are not fixed-width: a column is NULL or of another type")
            self.into.append(rows)
        self.rest = bytes(data[start + count * dtype.itemsize :])

    def check_ended(self) -> None:
        if self.header or self.rest != TRAILER:
            raise RuntimeError("binary COPY rows are not fixed-width: a column is NULL or of another type")


async def copy_out(
    conn: asyncpg.Connection,
    query: str,
    columns: Sequence[tuple[str, str]],
    *args: object,
    expected_rows: int = 0,
) -> dict[str, np.ndarray]:
    """Run `query` (every column NOT NULL, in `columns` order and types) and return its columns as contiguous
    native-endian arrays. `expected_rows`: an estimate to allocate for at once (the arrays grow past it).
    The stream goes to a coroutine sink: given a file object, asyncpg writes every chunk through a thread."""
    return await copy_out_parts([(conn, query, args)], columns, expected_rows=expected_rows)


async def copy_out_parts(
    parts: Sequence[tuple[asyncpg.Connection, str, Sequence[object]]],
    columns: Sequence[tuple[str, str]],
    *,
    expected_rows: int = 0,
) -> dict[str, np.ndarray]:
    """`copy_out` of several queries, each on its own connection, at once, into one set of columns (their rows
    in no particular order). PostgreSQL runs one backend per connection: two halves of a large read use both
    cores where one query's COPY used one."""
    into = _Columns(columns, expected_rows)
    streams = [_Stream(into) for _ in parts]
    try:
        async with asyncio.TaskGroup() as group:  # one failing cancels the others: no connection left mid-COPY
            for (conn, query, args), stream in zip(parts, streams, strict=True):
                group.create_task(conn.copy_from_query(query, *args, output=stream, format="binary"))
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None  # what went wrong, as one query's COPY would raise it
    for stream in streams:
        stream.check_ended()
    return into.result()


@dataclass(frozen=True)
class Field:
    """One column of rows in binary COPY form, for rows whose width varies (NULLs, texts, arrays): each row's
    value bytes left-aligned in a row of `data` (rows x the widest value, uint8), `length` of them used, -1 for
    NULL (no bytes)."""

    data: np.ndarray
    length: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, pg_type: str, null: np.ndarray | None = None) -> Field:
        """Fixed-width values (WIRE types; bools, numbers, V16 ids, V20 numerics), NULL where `null`."""
        wire = np.ascontiguousarray(values, dtype=np.dtype(WIRE[pg_type]))
        width = wire.dtype.itemsize
        length = np.full(len(wire), width, dtype=np.int32)
        if null is not None:
            length[null] = -1
        return cls(wire.view(np.uint8).reshape(len(wire), width), length)

    @classmethod
    def lookup(cls, codes: np.ndarray, values: Sequence[bytes | None]) -> Field:
        """values[code] per row (NULL for None): category names, texts made once for many rows."""
        lengths = np.array([-1 if v is None else len(v) for v in values], dtype=np.int32)
        table = np.zeros((len(values), int(lengths.max(initial=0))), dtype=np.uint8)
        # Every value's bytes at once: the mask walks the table's rows in order, as the joined values run.
        table[np.arange(table.shape[1]) < lengths[:, None]] = np.frombuffer(
            b"".join(v or b"" for v in values), np.uint8
        )
        index = np.asarray(codes, dtype=np.intp)
        return cls(table[index], lengths[index])


# A value slot is filled through record fields: NumPy copies a record field of n rows several times faster than
# a narrow 2-D slice of bytes, and 8-, 4-, 2- and 1-byte integer fields ~8x faster than a 16- or 20-byte void.
_WORDS = ((8, "<u8"), (4, "<u4"), (2, "<u2"), (1, "u1"))
_NARROW = 32  # wider slots (texts) are copied as one void field


def _pieces(width: int) -> list[tuple[int, str]]:
    """(offset in the slot, format) of the fields a value slot of `width` bytes is copied through."""
    if width > _NARROW:
        return [(0, f"V{width}")]
    out, at = [], 0
    for size, word in _WORDS:
        while width - at >= size:
            out.append((at, word))
            at += size
    return out


def encode_rows(fields: Sequence[Field]) -> np.ndarray:
    """The binary COPY rows (no header) made of the given columns (fields of equal rows), in order, as bytes.
    Each column takes a slot of its widest value in one matrix (length word, then the bytes), filled as the
    fields of a record; where a column's values are shorter than its slot (NULLs, texts), a mask drops the
    unused bytes in one masked copy at the end, which leaves the rows' bytes back to back as COPY reads them."""
    rows = len(fields[0].length) if fields else 0
    slots: list[tuple[str, str, int]] = [("n", ">i2", 0)]  # (record field, format, offset in the row)
    starts, at = [], 2
    for i, field in enumerate(fields):
        slots.append((f"l{i}", ">i4", at))
        starts.append(at + 4)
        slots += [(f"d{i}_{j}", f, at + 4 + o) for j, (o, f) in enumerate(_pieces(field.data.shape[1]))]
        at += 4 + field.data.shape[1]
    matrix = np.empty((rows, at), dtype=np.uint8)
    names, formats, offsets = zip(*slots, strict=True)
    layout = np.dtype({"names": list(names), "formats": list(formats), "offsets": list(offsets), "itemsize": at})
    record = matrix.view(layout).reshape(rows)
    record["n"] = len(fields)
    keep: np.ndarray | None = None
    for i, (field, start) in enumerate(zip(fields, starts, strict=True)):
        record[f"l{i}"] = field.length
        width = field.data.shape[1]
        pieces = _pieces(width)
        if pieces:
            # The value bytes seen as a record of the same pieces: each piece is copied field to field.
            source = np.dtype(
                {
                    "names": [f"p{j}" for j in range(len(pieces))],
                    "formats": [f for _, f in pieces],
                    "offsets": [o for o, _ in pieces],
                    "itemsize": width,
                }
            )
            values = np.ascontiguousarray(field.data).view(source).reshape(rows)
            for j in range(len(pieces)):
                record[f"d{i}_{j}"] = values[f"p{j}"]
        short = field.length < width
        if width and short.any():
            keep = np.ones(matrix.shape, dtype=bool) if keep is None else keep
            if np.all(field.length[short] < 0):  # NULLs only: their rows' slots go
                keep[short, start : start + width] = False
            else:
                keep[:, start : start + width] = np.arange(width) < field.length[:, None]
    return matrix.reshape(-1) if keep is None else matrix[keep]


def frame(bodies: Sequence[np.ndarray]) -> list[memoryview]:
    """A binary COPY stream, in pieces, of the rows `encode_rows` made, in order (not copied into one buffer)."""
    return [memoryview(SIGNATURE), *(b.data for b in bodies), memoryview(TRAILER)]


async def copy_in(
    conn: asyncpg.Connection, table: str, columns: Sequence[tuple[str, str]], values: dict[str, np.ndarray]
) -> None:
    """The given column arrays (equal lengths, fixed-width WIRE types, no nulls) into `table`."""
    fields = [Field.of(values[name], pg_type) for name, pg_type in columns]
    await copy_stream(conn, table, [name for name, _ in columns], frame([encode_rows(fields)]))


async def copy_stream(conn: asyncpg.Connection, table: str, columns: Sequence[str], stream: list[memoryview]) -> None:
    """A stream made by `frame` into `table`'s `columns`, its pieces sent as they are (not joined first)."""
    # asyncpg sends each piece by the buffer protocol; its type hints name bytes only.
    source: Any = _pieces_of(stream)
    await conn.copy_to_table(table, source=source, columns=list(columns), format="binary")


async def _pieces_of(stream: list[memoryview]) -> AsyncIterator[memoryview]:
    for piece in stream:
        yield piece
