"""Points ledger pages deep inside a month (crm_scoring/points/repository.py `entries_after`): paging through a
random ledger with any page size and filter lists every row once, in the list's order (newest month first, then
customer), exactly as one ordered query of the table does."""

import random
import uuid
from datetime import date
from decimal import Decimal

URL = "/api/v1/scores/points"
MONTHS = [date(2026, m, 1) for m in (8, 9, 10, 11)]


async def test_every_page_continues_where_the_last_one_stopped(reader, db):
    rng = random.Random(3)
    customers = sorted(uuid.uuid4() for _ in range(25))
    rows = [(c, m, Decimal(rng.randint(0, 900)) / 10) for c in customers for m in MONTHS if rng.random() < 0.8]
    await db.executemany("INSERT INTO points_ledger (customer_id, month, points) VALUES ($1, $2, $3)", rows)
    cases = [{}, {"from": "2026-09", "to": "2026-10"}, {"month": "2026-10"}, {"customer_id": str(customers[3])}]
    for filters in cases:
        expected = await db.fetch(
            "SELECT month, customer_id FROM points_ledger WHERE month >= $1 AND month <= $2"
            " AND ($3::uuid IS NULL OR customer_id = $3) ORDER BY month DESC, customer_id",
            date.fromisoformat((filters.get("from") or filters.get("month") or "2000-01") + "-01"),
            date.fromisoformat((filters.get("to") or filters.get("month") or "2999-12") + "-01"),
            uuid.UUID(filters["customer_id"]) if "customer_id" in filters else None,
        )
        for limit in (1, 4, 7, 100):
            seen, cursor = [], None
            while True:
                r = await reader.get(URL, params={**filters, "limit": limit, **({"cursor": cursor} if cursor else {})})
                assert r.status_code == 200, r.text
                seen += [(date.fromisoformat(i["month"]), uuid.UUID(i["customer_id"])) for i in r.json()["items"]]
                if not (cursor := r.json()["next_cursor"]):
                    break
            assert seen == [(r["month"], r["customer_id"]) for r in expected], (filters, limit)
