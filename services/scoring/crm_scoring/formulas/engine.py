"""Composite value score (DOMAIN.md 2) from versioned rule formulas stored as data. Pure (no I/O): the batch,
the incremental rescoring and the formulas API all validate, score and explain with it.

Formula JSON shape (what is stored per version; ``validate`` turns it into typed objects)::

    {
      "description": "optional free text",
      "terms": {                                   # non-empty; term names are [a-z][a-z0-9_]*
        "spend": {"input": "total_spend",
                  "rule": {"type": "linear", "points_per_unit": 0.01, "cap": 40}},       # cap optional (>= 0)
        "monthly_frequency": {"input": "monthly_frequency",
                  "rule": {"type": "thresholds", "table": [[0, 0], [1, 5], [2, 10], [4, 20]]}},
        "payment_terms": {"input": "payment_terms",
                  "rule": {"type": "categories", "weights": {"prepaid": 15, "cash": 12}, "default": 0}},
        ...
      }
    }

Rules (``value`` is the customer's input):
  linear      points = clip(value * points_per_unit, 0, cap); points_per_unit >= 0; no cap = uncapped.
  thresholds  table rows are [min_value, points] with strictly ascending min_value; points of the last row whose
              min_value <= value, 0 below the first row. Points may be negative (a penalty).
  categories  weights[value], or ``default`` (0 unless given) for a known-but-unweighted category. Only on
              categorical inputs, whose vocabularies are fixed below, so a typo in a weight key is rejected.
A missing input (None / NaN / "") scores 0 for that term, whatever the rule.

Rounding: each term's points are rounded to 2 decimals with NumPy's rounding (half-to-even on value*100), and
the total is the sum of the rounded terms, in term order, rounded again to 2 decimals. ``explain`` uses the
same code path, so its per-term points always add up to the scored total.
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from ..value.errors import FormulaError

NUMERIC_INPUTS = frozenset(
    {
        "total_spend",
        "monthly_frequency",
        "monthly_avg_spend",
        "tenure_months",
        "declared_budget",
        "share_of_wallet",
        "growth_potential",
    }
)
CATEGORICAL_INPUTS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "payment_terms": frozenset({"prepaid", "cash", "on_time", "on_account"}),
        "brand_contribution": frozenset({"none", "public_figure", "senior_position"}),
    }
)
RULE_TYPES = ("linear", "thresholds", "categories")

_TERM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# The seven terms of DOMAIN.md 2. Money inputs are in the shop's currency units.
DEFAULT_FORMULA: dict[str, Any] = {
    "description": "Default composite value score: the seven terms of DOMAIN.md section 2",
    "terms": {
        "spend": {"input": "total_spend", "rule": {"type": "linear", "points_per_unit": 0.01, "cap": 40}},
        "monthly_frequency": {
            "input": "monthly_frequency",
            "rule": {"type": "thresholds", "table": [[0, 0], [1, 5], [2, 10], [4, 20]]},
        },
        "monthly_average": {
            "input": "monthly_avg_spend",
            "rule": {"type": "thresholds", "table": [[0, 0], [50, 5], [200, 10], [500, 15]]},
        },
        "credit": {
            "input": "payment_terms",
            "rule": {
                "type": "categories",
                "weights": {"prepaid": 15, "cash": 12, "on_time": 8, "on_account": 3},
                "default": 0,
            },
        },
        "loyalty": {"input": "tenure_months", "rule": {"type": "linear", "points_per_unit": 0.5, "cap": 15}},
        "growth_potential": {
            "input": "growth_potential",
            "rule": {"type": "linear", "points_per_unit": 0.001, "cap": 10},
        },
        "brand_contribution": {
            "input": "brand_contribution",
            "rule": {
                "type": "categories",
                "weights": {"none": 0, "public_figure": 10, "senior_position": 5},
                "default": 0,
            },
        },
    },
}


# --------------------------------------------------------------------------- typed formula


@dataclass(frozen=True)
class LinearRule:
    points_per_unit: float
    cap: float | None = None

    def apply(self, x: np.ndarray) -> np.ndarray:
        hi = np.inf if self.cap is None else self.cap
        return np.clip(x * self.points_per_unit, 0.0, hi)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "linear", "points_per_unit": self.points_per_unit}
        if self.cap is not None:
            d["cap"] = self.cap
        return d


@dataclass(frozen=True)
class ThresholdRule:
    bounds: tuple[float, ...]
    points: tuple[float, ...]

    def apply(self, x: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(np.asarray(self.bounds), x, side="right") - 1
        pts = np.asarray(self.points, dtype=np.float64)[np.maximum(idx, 0)]
        return np.where(idx >= 0, pts, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "thresholds", "table": [[b, p] for b, p in zip(self.bounds, self.points, strict=True)]}


@dataclass(frozen=True)
class CategoryRule:
    weights: Mapping[str, float]
    default: float = 0.0

    def apply(self, x: np.ndarray, present: np.ndarray) -> np.ndarray:
        out = np.where(present, self.default, 0.0)
        for cat, w in self.weights.items():
            out[np.asarray(x == cat, dtype=bool)] = w
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categories", "weights": dict(self.weights), "default": self.default}


Rule = LinearRule | ThresholdRule | CategoryRule


@dataclass(frozen=True)
class Term:
    name: str
    input: str
    rule: Rule


@dataclass(frozen=True)
class Formula:
    terms: tuple[Term, ...]
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON form (what to store for a version after validation)."""
        return {
            "description": self.description,
            "terms": {t.name: {"input": t.input, "rule": t.rule.to_dict()} for t in self.terms},
        }


# --------------------------------------------------------------------------- validation


def _number(term: str, field: str, v: Any, *, minimum: float | None = None) -> float:
    # bool is an int subclass in Python; true/false in JSON is never a valid number here.
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise FormulaError(term, f"must be a finite number, got {v!r}", field)
    if minimum is not None and v < minimum:
        raise FormulaError(term, f"must be >= {minimum:g}, got {v!r}", field)
    return float(v)


def _only_keys(term: str, field: str, obj: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(obj) - allowed
    if unknown:
        raise FormulaError(term, f"unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}", field)


def _parse_rule(term: str, input_name: str, raw: Any) -> Rule:
    if not isinstance(raw, Mapping):
        raise FormulaError(term, "must be an object with a 'type'", "rule")
    kind = raw.get("type")
    if kind not in RULE_TYPES:
        raise FormulaError(term, f"unknown rule type {kind!r}; expected one of {list(RULE_TYPES)}", "rule.type")
    categorical = input_name in CATEGORICAL_INPUTS
    if (kind == "categories") != categorical:
        want = "a 'categories' rule" if categorical else "a 'linear' or 'thresholds' rule"
        what = "categorical" if categorical else "numeric"
        raise FormulaError(term, f"input {input_name!r} is {what} and needs {want}, not {kind!r}", "rule.type")
    if kind == "linear":
        _only_keys(term, "rule", raw, {"type", "points_per_unit", "cap"})
        if "points_per_unit" not in raw:
            raise FormulaError(term, "is required", "rule.points_per_unit")
        ppu = _number(term, "rule.points_per_unit", raw["points_per_unit"], minimum=0)
        cap = raw.get("cap")
        return LinearRule(ppu, None if cap is None else _number(term, "rule.cap", cap, minimum=0))
    if kind == "thresholds":
        _only_keys(term, "rule", raw, {"type", "table"})
        table = raw.get("table")
        if not isinstance(table, list | tuple) or not table:
            raise FormulaError(term, "must be a non-empty list of [min_value, points] rows", "rule.table")
        bounds: list[float] = []
        points: list[float] = []
        for i, row in enumerate(table):
            field = f"rule.table[{i}]"
            if not isinstance(row, list | tuple) or len(row) != 2:
                raise FormulaError(term, f"must be a [min_value, points] pair, got {row!r}", field)
            b = _number(term, field, row[0])
            if bounds and b == bounds[-1]:
                raise FormulaError(term, f"duplicate threshold {row[0]!r}", field)
            if bounds and b < bounds[-1]:
                raise FormulaError(term, f"thresholds must be ascending; {row[0]!r} follows {bounds[-1]:g}", field)
            bounds.append(b)
            points.append(_number(term, field, row[1]))
        return ThresholdRule(tuple(bounds), tuple(points))
    _only_keys(term, "rule", raw, {"type", "weights", "default"})
    weights = raw.get("weights")
    if not isinstance(weights, Mapping) or not weights:
        raise FormulaError(term, "must be a non-empty object of category -> points", "rule.weights")
    vocab = CATEGORICAL_INPUTS[input_name]
    parsed: dict[str, float] = {}
    for cat, w in weights.items():
        if cat not in vocab:
            raise FormulaError(term, f"unknown category {cat!r}; known: {sorted(vocab)}", f"rule.weights.{cat}")
        parsed[cat] = _number(term, f"rule.weights.{cat}", w)
    default = _number(term, "rule.default", raw.get("default", 0))
    return CategoryRule(MappingProxyType(parsed), default)


def validate(formula: Mapping[str, Any] | Formula) -> Formula:
    """Parse a formula version into typed objects or raise ``FormulaError`` naming the offending term/field."""
    if isinstance(formula, Formula):
        return formula
    if not isinstance(formula, Mapping):
        raise FormulaError("(formula)", "must be an object with 'terms'")
    _only_keys("(formula)", "", formula, {"terms", "description"})
    description = formula.get("description", "")
    if not isinstance(description, str):
        raise FormulaError("(formula)", "must be a string", "description")
    raw_terms = formula.get("terms")
    if not isinstance(raw_terms, Mapping) or not raw_terms:
        raise FormulaError("(formula)", "must be a non-empty object of term name -> {input, rule}", "terms")
    terms: list[Term] = []
    for name, spec in raw_terms.items():
        if not isinstance(name, str) or not _TERM_NAME.match(name):
            raise FormulaError(str(name), "term names must match [a-z][a-z0-9_]* (max 64 chars)", "name")
        if not isinstance(spec, Mapping):
            raise FormulaError(name, "must be an object with 'input' and 'rule'")
        _only_keys(name, "", spec, {"input", "rule"})
        input_name = spec.get("input")
        if not isinstance(input_name, str) or (
            input_name not in NUMERIC_INPUTS and input_name not in CATEGORICAL_INPUTS
        ):
            known = sorted(NUMERIC_INPUTS | set(CATEGORICAL_INPUTS))
            raise FormulaError(name, f"unknown input {input_name!r}; known: {known}", "input")
        terms.append(Term(name, input_name, _parse_rule(name, input_name, spec.get("rule"))))
    return Formula(tuple(terms), description)


# --------------------------------------------------------------------------- scoring


def growth_potential(declared_budget: npt.ArrayLike, share_of_wallet: npt.ArrayLike) -> np.ndarray:
    """budget * (1 - share_of_wallet), NaN unless both are known; share of wallet is clipped to [0, 1]."""
    budget = np.asarray(declared_budget, dtype=np.float64)
    sow = np.clip(np.asarray(share_of_wallet, dtype=np.float64), 0.0, 1.0)
    return budget * (1.0 - sow)  # NaN propagates: unknown stays unknown


def _round2(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def _size(inputs: Mapping[str, Any]) -> int:
    sizes = {np.asarray(v).shape[0] for v in inputs.values() if v is not None}
    if len(sizes) != 1:
        raise ValueError(f"inputs must be 1-d arrays of one common length, got lengths {sorted(sizes)}")
    return sizes.pop()


def _input_array(name: str, inputs: Mapping[str, Any]) -> np.ndarray | None:
    raw = inputs.get(name)
    if raw is None and name == "growth_potential" and "declared_budget" in inputs and "share_of_wallet" in inputs:
        return growth_potential(inputs["declared_budget"], inputs["share_of_wallet"])
    if raw is None:
        return None
    if name in CATEGORICAL_INPUTS:
        return np.asarray(raw)
    return np.asarray(raw, dtype=np.float64)  # None inside an object array becomes NaN


def _present(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "fc":
        return np.isfinite(arr)
    if arr.dtype.kind in "US":
        return arr != ""
    # object arrays: None, NaN and "" are missing; these comparisons run elementwise in C.
    # numpy's stubs do not list None as an operand, but np.equal compares object arrays with it elementwise.
    return ~(np.equal(arr, None) | (arr != arr) | (arr == ""))  # type: ignore[call-overload]


def score(
    formula: Mapping[str, Any] | Formula, inputs: Mapping[str, npt.ArrayLike]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Composite score per customer and the points of each term (both rounded to 2 decimals).

    ``inputs`` maps input names to 1-d arrays of equal length: float arrays (NaN = unknown) for numeric inputs,
    str/object arrays (None or "" = unknown) for categorical ones. An input absent from ``inputs`` is unknown for
    everyone; ``growth_potential`` is derived from ``declared_budget`` and ``share_of_wallet`` when not given.
    """
    f = validate(formula)
    n = _size(inputs)
    total = np.zeros(n, dtype=np.float64)
    per_term: dict[str, np.ndarray] = {}
    for term in f.terms:
        arr = _input_array(term.input, inputs)
        if arr is None:
            pts = np.zeros(n, dtype=np.float64)
        else:
            present = _present(arr)
            if isinstance(term.rule, CategoryRule):
                raw = term.rule.apply(arr, present)
            else:
                raw = np.where(present, term.rule.apply(np.where(present, arr, 0.0)), 0.0)
            pts = _round2(raw)
        per_term[term.name] = pts
        total = total + pts  # sequential, in term order, so a per-customer sum reproduces it bit for bit
    return _round2(total), per_term


def explain(formula: Mapping[str, Any] | Formula, one_customer_inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per term: ``{term, input, value, rule, points}`` for one customer; total = round(sum(points), 2).

    ``value`` is the input actually used (derived growth potential included), None when unknown.
    """
    f = validate(formula)
    arrays: dict[str, np.ndarray] = {}
    for k, v in one_customer_inputs.items():
        arrays[k] = np.array([v], dtype=object if k in CATEGORICAL_INPUTS else np.float64)
    if not arrays:
        arrays["total_spend"] = np.array([np.nan])
    _, per_term = score(f, arrays)
    rows: list[dict[str, Any]] = []
    for term in f.terms:
        arr = _input_array(term.input, arrays)
        value: Any = None
        if arr is not None and bool(_present(arr)[0]):
            value = arr[0] if term.input in CATEGORICAL_INPUTS else float(arr[0])
        rows.append(
            {
                "term": term.name,
                "input": term.input,
                "value": value,
                "rule": term.rule.to_dict(),
                "points": float(per_term[term.name][0]),
            }
        )
    return rows
