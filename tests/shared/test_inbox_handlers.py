"""Several domains of one service handling the same event type: one table, handlers chained in order."""

from crm_shared.inbox import combine_handlers


async def test_handlers_of_one_type_run_in_order_on_the_same_group():
    calls: list[tuple[str, list[str]]] = []

    def recorder(name: str):
        async def handler(session, events):
            calls.append((name, [e["id"] for e in events]))

        return handler

    records, watchlist = recorder("records"), recorder("watchlist")
    table = combine_handlers({"order.created": records, "lifecycle.changed": records}, {"order.created": watchlist})
    assert table["lifecycle.changed"] is records  # a type only one domain handles keeps its handler
    await table["order.created"](None, [{"id": "e1"}, {"id": "e2"}])
    assert calls == [("records", ["e1", "e2"]), ("watchlist", ["e1", "e2"])]
