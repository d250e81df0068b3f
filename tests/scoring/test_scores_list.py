"""The segment list: every filter and combination selects exactly the expected customers, every sort pages
through each customer once in the right order (null CLV / churn risk last), cursors are bound to filters
and sort, and bad parameters are named."""

import pytest

from .helpers import BASE, cid, seed_base

URL = "/api/v1/scores/customers"
NULLS_DESC = [12, 11, 10]
NULLS_ASC = [10, 11, 12]
SORTS = {
    "-clv": [1, 3, 2, 4, 5, 6, 7, 8, 9, *NULLS_DESC],  # 2 and 3 tie on CLV: the id breaks it, descending
    "clv": [9, 8, 7, 6, 5, 4, 2, 3, 1, *NULLS_ASC],
    "-churn_risk": [9, 8, 7, 6, 4, 3, 2, 1, 5, *NULLS_DESC],
    "churn_risk": [5, 1, 2, 3, 4, 6, 7, 8, 9, *NULLS_ASC],
    "-composite_score": [1, 2, 3, 4, 6, 5, 7, 8, 12, 10, 9, 11],
    "composite_score": [11, 9, 10, 12, 8, 7, 5, 6, 4, 3, 2, 1],
    "customer_id": list(range(1, 13)),
}


@pytest.fixture
async def base(db):
    await seed_base(db)


def _ids(items):
    return [next(i for i in BASE if str(cid(i)) == item["customer_id"]) for item in items]


async def _all_pages(client, params, limit):
    seen, cursor, pages = [], None, 0
    while True:
        r = await client.get(URL, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= limit
        seen += _ids(page["items"])
        pages += 1
        if not (cursor := page["next_cursor"]):
            return seen, pages


async def test_default_sort_is_clv_descending_with_nulls_last(reader, base):
    r = await reader.get(URL)
    assert r.status_code == 200
    assert _ids(r.json()["items"]) == SORTS["-clv"]
    assert r.json()["next_cursor"] is None


@pytest.mark.parametrize("sort", list(SORTS))
async def test_every_sort_pages_through_each_customer_once(reader, base, sort):
    for limit in range(1, 14):
        seen, pages = await _all_pages(reader, {"sort": sort}, limit)
        assert seen == SORTS[sort], (sort, limit)
        assert pages == -(-12 // limit)  # no empty trailing page


async def test_pages_stop_exactly_at_the_end(reader, base):
    """A full last page still says whether more follow: no empty trailing page."""
    seen, pages = await _all_pages(reader, {"sort": "-clv"}, 4)
    assert (seen, pages) == (SORTS["-clv"], 3)
    seen, pages = await _all_pages(reader, {"sort": "-clv"}, 9)  # the first page ends at the last CLV
    assert (seen, pages) == (SORTS["-clv"], 2)


async def test_item_is_a_compact_row(reader, base):
    (item,) = (await reader.get(URL, params={"limit": 1})).json()["items"]
    assert item == {
        "customer_id": str(cid(1)),
        "stage": "growth",
        "abc_class": "A",
        "gold": True,
        "drag": False,
        "rfm_segment": "champions",
        "r": 5,
        "f": 5,
        "m": 5,
        "composite_score": "80.00",
        "clv": "900.00",
        "p_alive": 0.95,
        "churn_risk": 0.05,
        "expected_purchases": None,
        "expected_spend": None,
        "total_spend": "5000.00",
        "last_purchase_at": "2026-10-01T00:00:00Z",
    }
    nulls = (await reader.get(URL, params={"sort": "clv", "limit": 12})).json()["items"][-1]
    assert (nulls["clv"], nulls["p_alive"], nulls["churn_risk"]) == (None, None, None)


FILTERS = [
    ({"stage": "maturity"}, {2, 3, 4}),
    ({"stage": ["decline", "churned"]}, {7, 8, 9, 10}),
    ({"abc_class": "A"}, {1, 2, 3}),
    ({"abc_class": ["A", "B"]}, {1, 2, 3, 4, 5, 6}),
    ({"rfm_segment": ["champions", "loyal"]}, {1, 2, 3, 4}),
    ({"rfm_segment": "nobody"}, set()),
    ({"gold": "true"}, {1, 2}),
    ({"drag": "true"}, {7, 8, 9, 10}),
    ({"drag": "false", "abc_class": "C"}, {11, 12}),
    ({"clv_min": "250", "clv_max": "750"}, {2, 3, 4, 5, 6}),  # bounds are inclusive
    ({"clv_min": "0"}, set(range(1, 10))),  # a bound excludes the unscored
    ({"clv_max": "100.00"}, {7, 8, 9}),
    ({"p_alive_min": "0.8"}, {1, 2, 3, 4, 5}),
    ({"p_alive_max": "0.4"}, {7, 8, 9}),
    ({"churn_risk_min": "0.6"}, {7, 8, 9}),
    ({"churn_risk_min": "0.1", "churn_risk_max": "0.2"}, {2, 3, 4}),
    ({"composite_min": "45", "composite_max": "70"}, {2, 3, 4, 6}),
    # Bounds beyond the columns' range (numeric(14, 2), numeric(10, 2)) match no one, or everyone scored
    ({"clv_min": "10000000000000"}, set()),
    ({"clv_max": "99999999999999.99"}, set(range(1, 10))),
    ({"composite_min": "99999999999999.99"}, set()),
    ({"stage": ["maturity", "growth"], "abc_class": "A", "p_alive_min": "0.9"}, {1, 2}),
    ({"gold": "false", "stage": "maturity", "composite_min": "60"}, {3}),
    ({"stage": "introduction", "rfm_segment": "new_customers", "clv_max": "1000"}, {5}),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS)
async def test_filters_select_exactly(reader, base, params, expected):
    for sort in ("-clv", "churn_risk", "customer_id"):
        seen, _ = await _all_pages(reader, {**params, "sort": sort}, 2)
        assert set(seen) == expected, (params, sort)
        assert seen == [i for i in SORTS[sort] if i in expected]
    r = await reader.get(f"{URL}/count", params=params)
    assert r.status_code == 200, r.text
    assert r.json() == {"count": len(expected)}


async def test_count_without_filters(reader, base):
    assert (await reader.get(f"{URL}/count")).json() == {"count": 12}


async def test_limit_up_to_1000(reader, base):
    r = await reader.get(URL, params={"limit": 1000})
    assert r.status_code == 200
    assert len(r.json()["items"]) == 12
    r = await reader.get(URL, params={"limit": 1001})
    assert r.status_code == 422
    assert r.json()["errors"][0]["parameter"] == "limit"


async def test_cursor_is_bound_to_filters_and_sort(reader, base):
    cursor = (await reader.get(URL, params={"stage": "maturity", "limit": 1})).json()["next_cursor"]
    assert (await reader.get(URL, params={"stage": "maturity", "cursor": cursor})).status_code == 200
    for other in ({"stage": "growth"}, {"stage": "maturity", "sort": "clv"}, {"stage": "maturity", "gold": "true"}):
        r = await reader.get(URL, params={**other, "cursor": cursor})
        assert r.status_code == 400, other
        assert r.json()["errors"][0]["parameter"] == "cursor"
    r = await reader.get(URL, params={"cursor": "not-a-cursor"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["parameter"] == "cursor"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"stage": "dormant"}, "stage"),
        ({"stage": ["maturity", "asleep"]}, "stage"),
        ({"abc_class": "D"}, "abc_class"),
        ({"p_alive_min": "1.5"}, "p_alive_min"),
        ({"churn_risk_max": "-0.1"}, "churn_risk_max"),
        ({"clv_min": "500", "clv_max": "100"}, "clv_min"),
        ({"p_alive_min": "0.9", "p_alive_max": "0.1"}, "p_alive_min"),
        ({"composite_min": "lots"}, "composite_min"),
        ({"clv_max": "NaN"}, "clv_max"),
        ({"gold": "maybe"}, "gold"),
        ({"sort": "-name"}, "sort"),
        ({"sort": "-customer_id"}, "sort"),
        ({"stages": "churned"}, "stages"),  # misspelt: refused, not ignored
        ({"limit": "0"}, "limit"),
    ],
)
async def test_bad_parameters_are_named(reader, base, params, parameter):
    r = await reader.get(URL, params=params)
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["parameter"] for e in r.json()["errors"]] == [parameter]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"clv_min": "500", "clv_max": "100"}, "clv_min"), ({"stage": "x"}, "stage"), ({"sort": "clv"}, "sort")],
)
async def test_count_names_bad_filters(reader, base, params, parameter):
    r = await reader.get(f"{URL}/count", params=params)
    assert r.status_code in (400, 422)
    assert [e["parameter"] for e in r.json()["errors"]] == [parameter]
