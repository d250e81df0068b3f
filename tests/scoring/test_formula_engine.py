"""Composite value score: validation (bad formulas name the term), exact scores, explain, vectorization."""

import copy
import math
from typing import Any

import numpy as np
import pytest

from crm_scoring.formulas.engine import DEFAULT_FORMULA, explain, score, validate
from crm_scoring.value.errors import FormulaError

NAN = math.nan
FORMULA: dict[str, Any] = {
    "terms": {
        "spend": {"input": "total_spend", "rule": {"type": "linear", "points_per_unit": 0.1, "cap": 50}},
        "freq": {
            "input": "monthly_frequency",
            "rule": {"type": "thresholds", "table": [[0, 0], [1, 5], [2, 10], [4, 20]]},
        },
        "credit": {
            "input": "payment_terms",
            "rule": {"type": "categories", "weights": {"prepaid": 15, "cash": 12, "on_account": 3}, "default": 1},
        },
        "growth": {"input": "growth_potential", "rule": {"type": "linear", "points_per_unit": 0.001}},
    }
}
INPUTS: dict[str, Any] = {
    "total_spend": np.array([100, 1000, NAN, -20, 123.456]),
    "monthly_frequency": np.array([0.5, 4, 1.5, -1, 2]),
    "payment_terms": np.array(["prepaid", "on_time", None, "cash", ""], dtype=object),
    "declared_budget": np.array([10000, NAN, 2000, 3333, NAN]),
    "share_of_wallet": np.array([0.25, 0.5, 1.2, 0, 0.1]),
}
# c0: 100*0.1=10; 0.5 -> row [0,0] = 0; prepaid 15; 10000*(1-0.25)*0.001 = 7.5          -> 32.5
# c1: 100 capped at 50; 4 -> 20; on_time is known but unweighted -> default 1; budget unknown 0 -> 71
# c2: spend unknown 0; 1.5 -> 5; payment unknown 0; share of wallet clipped to 1 -> 0        -> 5
# c3: negative spend clipped 0; -1 is below the first row 0; cash 12; 3.333 -> 3.33         -> 15.33
# c4: 12.3456 -> 12.35; 2 -> 10; "" is unknown 0; budget unknown 0                           -> 22.35
EXPECTED_TERMS = {
    "spend": [10, 50, 0, 0, 12.35],
    "freq": [0, 20, 5, 0, 10],
    "credit": [15, 1, 0, 12, 0],
    "growth": [7.5, 0, 0, 3.33, 0],
}
EXPECTED_TOTAL = [32.5, 71, 5, 15.33, 22.35]


def test_score_exact_with_every_rule_type() -> None:
    total, per_term = score(FORMULA, INPUTS)
    assert total.tolist() == EXPECTED_TOTAL
    assert {k: v.tolist() for k, v in per_term.items()} == EXPECTED_TERMS


def test_explain_one_customer() -> None:
    rows = explain(FORMULA, {k: v[0] for k, v in INPUTS.items()})
    assert [(r["term"], r["input"], r["value"], r["points"]) for r in rows] == [
        ("spend", "total_spend", 100.0, 10.0),
        ("freq", "monthly_frequency", 0.5, 0.0),
        ("credit", "payment_terms", "prepaid", 15.0),
        ("growth", "growth_potential", 7500.0, 7.5),
    ]
    assert rows[0]["rule"] == {"type": "linear", "points_per_unit": 0.1, "cap": 50.0}
    assert rows[3]["rule"] == {"type": "linear", "points_per_unit": 0.001}
    assert round(sum(r["points"] for r in rows), 2) == EXPECTED_TOTAL[0]
    missing = explain(FORMULA, {"payment_terms": None})
    assert [(r["value"], r["points"]) for r in missing] == [(None, 0.0)] * 4


def test_default_formula_covers_the_seven_domain_terms() -> None:
    f = validate(DEFAULT_FORMULA)
    assert [t.name for t in f.terms] == [
        "spend", "monthly_frequency", "monthly_average", "credit", "loyalty", "growth_potential",
        "brand_contribution",
    ]  # fmt: skip
    assert validate(f.to_dict()) == f  # the canonical form round-trips
    one = {
        "total_spend": 2500,  # 25
        "monthly_frequency": 3,  # 10
        "monthly_avg_spend": 250,  # 10
        "payment_terms": "prepaid",  # 15
        "tenure_months": 40,  # 20, capped at 15
        "declared_budget": 20000,  # growth potential 4000 -> 4
        "share_of_wallet": 0.8,
        "brand_contribution": "public_figure",  # 10
    }
    total, _ = score(DEFAULT_FORMULA, {k: np.array([v], dtype=object) for k, v in one.items()})
    assert total.tolist() == [89.0]


def _mutate(path: list[str], value: Any) -> dict[str, Any]:
    f = copy.deepcopy(FORMULA)
    node: Any = f
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return f


BAD = [
    # (formula, offending term, field)
    pytest.param("not a formula", "(formula)", None, id="not-an-object"),
    pytest.param({"terms": {}}, "(formula)", "terms", id="empty-terms"),
    pytest.param({"version": 2, "terms": FORMULA["terms"]}, "(formula)", "", id="unknown-top-level-key"),
    pytest.param({"terms": {"Spend!": FORMULA["terms"]["spend"]}}, "Spend!", "name", id="bad-term-name"),
    pytest.param(_mutate(["terms", "spend"], "linear"), "spend", None, id="term-not-object"),
    pytest.param(_mutate(["terms", "spend", "weight"], 2), "spend", "", id="unknown-term-key"),
    pytest.param(_mutate(["terms", "spend", "input"], "total_spent"), "spend", "input", id="unknown-input"),
    pytest.param(_mutate(["terms", "spend", "rule"], None), "spend", "rule", id="missing-rule"),
    pytest.param(_mutate(["terms", "spend", "rule", "type"], "log"), "spend", "rule.type", id="unknown-rule-type"),
    pytest.param(_mutate(["terms", "spend", "rule", "extra"], 1), "spend", "rule", id="unknown-rule-key"),
    pytest.param(_mutate(["terms", "spend", "rule", "cap"], -1), "spend", "rule.cap", id="negative-cap"),
    pytest.param(_mutate(["terms", "spend", "rule", "cap"], "40"), "spend", "rule.cap", id="string-cap"),
    pytest.param(_mutate(["terms", "spend", "rule", "cap"], True), "spend", "rule.cap", id="bool-cap"),
    pytest.param(
        _mutate(["terms", "spend", "rule", "points_per_unit"], -0.1), "spend", "rule.points_per_unit", id="negative-ppu"
    ),
    pytest.param(
        _mutate(["terms", "spend", "rule"], {"type": "linear"}), "spend", "rule.points_per_unit", id="missing-ppu"
    ),
    pytest.param(
        _mutate(["terms", "spend", "rule"], {"type": "categories", "weights": {"cash": 1}}),
        "spend",
        "rule.type",
        id="categories-on-numeric",
    ),
    pytest.param(
        _mutate(["terms", "credit", "rule"], {"type": "linear", "points_per_unit": 1}),
        "credit",
        "rule.type",
        id="linear-on-categorical",
    ),
    pytest.param(
        _mutate(["terms", "freq", "rule", "table"], [[0, 0], [2, 10], [1, 5]]), "freq", "rule.table[2]", id="unsorted"
    ),
    pytest.param(
        _mutate(["terms", "freq", "rule", "table"], [[0, 0], [0, 5]]), "freq", "rule.table[1]", id="duplicate-threshold"
    ),
    pytest.param(_mutate(["terms", "freq", "rule", "table"], []), "freq", "rule.table", id="empty-table"),
    pytest.param(_mutate(["terms", "freq", "rule", "table"], [[0, 0, 1]]), "freq", "rule.table[0]", id="bad-row"),
    pytest.param(_mutate(["terms", "freq", "rule", "table"], [[NAN, 0]]), "freq", "rule.table[0]", id="nan-threshold"),
    pytest.param(
        _mutate(["terms", "credit", "rule", "weights", "cash"], "12"), "credit", "rule.weights.cash", id="text-weight"
    ),
    pytest.param(
        _mutate(["terms", "credit", "rule", "weights", "prepayed"], 12),
        "credit",
        "rule.weights.prepayed",
        id="unknown-category",
    ),
    pytest.param(_mutate(["terms", "credit", "rule", "weights"], {}), "credit", "rule.weights", id="empty-weights"),
    pytest.param(_mutate(["terms", "credit", "rule", "default"], None), "credit", "rule.default", id="bad-default"),
]


@pytest.mark.parametrize(("formula", "term", "field"), BAD)
def test_bad_formula_rejected_naming_the_term(formula: Any, term: str, field: str | None) -> None:
    with pytest.raises(FormulaError) as err:
        validate(formula)
    assert (err.value.term, err.value.field) == (term, field)
    assert err.value.status_code == 422
    assert repr(term) in str(err.value)
    assert err.value.to_dict()["term"] == term
    with pytest.raises(FormulaError):
        score(formula, INPUTS)


# ---------------------------------------------------------------- straightforward per-customer reference


def _missing(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v))


def _reference_points(rule: dict[str, Any], v: Any) -> float:
    if _missing(v):
        return 0.0
    if rule["type"] == "linear":
        p = max(0.0, v * rule["points_per_unit"])
        return min(p, rule["cap"]) if "cap" in rule else p
    if rule["type"] == "thresholds":
        p = 0.0
        for lo, pts in rule["table"]:
            if v >= lo:
                p = float(pts)
        return p
    return float(rule["weights"].get(v, rule.get("default", 0)))


def _reference_total(formula: dict[str, Any], customer: dict[str, Any]) -> float:
    total = 0.0
    for term in formula["terms"].values():
        name = term["input"]
        v = customer.get(name)
        if name == "growth_potential":
            b, s = customer["declared_budget"], customer["share_of_wallet"]
            v = NAN if math.isnan(b) or math.isnan(s) else b * (1.0 - min(1.0, max(0.0, s)))
        total += float(np.round(_reference_points(term["rule"], v), 2))
    return float(np.round(total, 2))


def test_vectorized_matches_reference_on_100k() -> None:
    rng = np.random.default_rng(11)
    n = 100_000

    def with_gaps(a: np.ndarray) -> np.ndarray:
        a = a.astype(float)
        a[rng.random(n) < 0.05] = NAN
        return a

    inputs: dict[str, Any] = {
        "total_spend": with_gaps(np.round(rng.gamma(2, 1500, n), 2)),
        "monthly_frequency": with_gaps(rng.poisson(2, n) / rng.integers(1, 4, n)),
        "monthly_avg_spend": with_gaps(np.round(rng.gamma(2, 150, n), 2)),
        "payment_terms": np.array(["prepaid", "cash", "on_time", "on_account", None, ""], dtype=object)[
            rng.integers(0, 6, n)
        ],
        "tenure_months": with_gaps(rng.integers(0, 80, n)),
        "declared_budget": with_gaps(np.round(rng.gamma(2, 5000, n), 0)),
        "share_of_wallet": with_gaps(rng.random(n)),
        "brand_contribution": np.array(["none", "public_figure", "senior_position", None], dtype=object)[
            rng.integers(0, 4, n)
        ],
    }
    total, per_term = score(DEFAULT_FORMULA, inputs)
    columns = {k: v.tolist() for k, v in inputs.items()}
    expected = [_reference_total(DEFAULT_FORMULA, {k: columns[k][i] for k in columns}) for i in range(n)]
    assert total.tolist() == expected
    assert set(per_term) == set(DEFAULT_FORMULA["terms"])
