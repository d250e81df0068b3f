"""Segment rules: a tree of `{"and": [...]}`, `{"or": [...]}`, `{"not": rule}` and conditions
`{"field": "abc_class", "op": "in", "value": ["A", "B"]}` over the audience read model, validated
(every problem named by a JSON pointer to its node) and compiled to ONE SQL boolean expression over the
alias `a` (audience_customers) with bound parameters, so a segment is evaluated by the database alone.

Each condition is wrapped in coalesce(..., false): a customer with no value (e.g. not yet scored) does
not match, and `not` of a condition matches him, as a marketer would expect."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_shared.errors import FieldError

MAX_DEPTH = 12
MAX_NODES = 300
MAX_LIST = 1000
MAX_IDS = 50_000  # an explicit customer list, e.g. the churn service's win-back cases
MAX_TEXT = 200

STAGES = ("introduction", "growth", "maturity", "decline", "churned")
CHANNELS = ("email", "sms", "mail", "phone")
CONSENTS = ("opted_in", "opted_out", "unknown")

EQUALITY = ("eq", "ne", "in", "not_in")
NULLS = ("is_null", "is_not_null")
ORDER = ("lt", "lte", "gt", "gte", "between")


@dataclass(frozen=True)
class Field:
    kind: str  # enum, text, bool, number, probability, tags, tenure, consent
    column: str
    ops: tuple[str, ...]
    values: tuple[str, ...] = ()
    description: str = ""


FIELDS: dict[str, Field] = {
    # scoring fields
    "stage": Field("enum", "stage", EQUALITY + NULLS, STAGES, "lifecycle stage"),
    "abc_class": Field("enum", "abc_class", EQUALITY + NULLS, ("A", "B", "C"), "ABC value class"),
    "rfm_segment": Field("text", "rfm_segment", EQUALITY + NULLS, (), "RFM segment name"),
    "gold": Field("bool", "gold", ("eq",), (), "top 5% 'gold' customer"),
    "drag": Field("bool", "drag", ("eq",), (), "20% 'drag' customer"),
    "clv": Field("number", "clv", ("eq", "ne", *ORDER, *NULLS), (), "customer lifetime value"),
    "p_alive": Field("probability", "p_alive", ORDER + NULLS, (), "probability alive (BG/NBD), 0-1"),
    "churn_risk": Field("probability", "churn_risk", ORDER + NULLS, (), "churn risk, 0-1"),
    "composite_score": Field("number", "composite_score", ("eq", "ne", *ORDER, *NULLS), (), "composite value score"),
    # customer fields
    "customer_id": Field("id", "customer_id", ("in", "not_in"), (), "explicit customers"),
    "winback": Field(
        "enum",
        # The customer's latest win-back case in the churn service (null: none): {"field": "winback", "op":
        # "eq", "value": "open"} targets the cases being won back.
        "(SELECT w.state FROM winback_cases w WHERE w.customer_id = a.customer_id AND w.state <> 'merged'"
        " ORDER BY coalesce(w.opened_at, w.closed_at) DESC LIMIT 1)",
        EQUALITY + NULLS,
        ("open", "won", "lost"),
        "state of the customer's latest win-back case (churn service)",
    ),
    "kind": Field("enum", "kind", EQUALITY, ("individual", "company"), "customer kind"),
    "tags": Field("tags", "tags", ("has", "has_any", "has_all", "has_none"), (), "positioning tags"),
    "region": Field("text", "region", EQUALITY + NULLS, (), "address region"),
    "country": Field("text", "country", EQUALITY + NULLS, (), "address country (ISO 3166 alpha-2)"),
    "tenure_months": Field("tenure", "customer_since", ORDER, (), "whole months since the customer was created"),
    "preferred_channel": Field("enum", "preferred_channel", EQUALITY + NULLS, CHANNELS, "preferred channel"),
    **{
        f"consent_{c}": Field("consent", f"consent_{c}", EQUALITY, CONSENTS, f"consent on {c} ('unknown': none)")
        for c in CHANNELS
    },
}


@dataclass
class Compiled:
    """`where`: SQL over alias `a`; `params`: its bound values (names prefixed so they never clash)."""

    where: str
    params: dict[str, Any] = field(default_factory=dict)


class RuleErrors(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.pointer}: {e.detail}" for e in errors))
        self.errors = errors


class _Compiler:
    def __init__(self, root: str, prefix: str) -> None:
        self.root, self.prefix = root, prefix
        self.errors: list[FieldError] = []
        self.params: dict[str, Any] = {}
        self.nodes = 0

    def fail(self, path: str, detail: str) -> str:
        self.errors.append(FieldError(detail=detail, pointer=f"{self.root}{path}"))
        return "false"

    def bind(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def node(self, rule: Any, path: str, depth: int) -> str:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return self.fail(path, f"a segment has at most {MAX_NODES} rule nodes")
        if depth > MAX_DEPTH:
            return self.fail(path, f"rules nest at most {MAX_DEPTH} levels deep")
        if not isinstance(rule, dict):
            return self.fail(path, "a rule is an object: {and: [...]}, {or: [...]}, {not: rule} or a condition")
        keys = set(rule)
        for combinator in ("and", "or"):
            if combinator in rule:
                if keys != {combinator}:
                    return self.fail(path, f"'{combinator}' takes no other members")
                children = rule[combinator]
                if not isinstance(children, list) or not children:
                    return self.fail(f"{path}/{combinator}", "a non-empty list of rules")
                parts = [self.node(c, f"{path}/{combinator}/{i}", depth + 1) for i, c in enumerate(children)]
                return "(" + f" {combinator.upper()} ".join(parts) + ")"
        if "not" in rule:
            if keys != {"not"}:
                return self.fail(path, "'not' takes no other members")
            return f"(NOT {self.node(rule['not'], f'{path}/not', depth + 1)})"
        return self.condition(rule, path)

    def condition(self, rule: dict[str, Any], path: str) -> str:
        unknown = set(rule) - {"field", "op", "value"}
        if unknown:
            return self.fail(f"{path}/{sorted(unknown)[0]}", "unknown member (a condition has field, op, value)")
        name = rule.get("field")
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            return self.fail(f"{path}/field", f"unknown field; one of {', '.join(FIELDS)}")
        op = rule.get("op")
        if op not in spec.ops:
            return self.fail(f"{path}/op", f"'{name}' takes op {', '.join(spec.ops)}")
        col = spec.column if spec.column.startswith("(") else f"a.{spec.column}"  # a subquery, or a column
        if op in NULLS:
            if "value" in rule:
                return self.fail(f"{path}/value", f"'{op}' takes no value")
            return f"({col} IS {'NOT ' if op == 'is_not_null' else ''}NULL)"
        if "value" not in rule:
            return self.fail(f"{path}/value", "a value is required")
        vpath, value = f"{path}/value", rule["value"]
        if op in ("in", "not_in", "has_any", "has_all", "has_none") or op == "between":
            items = self.items(spec, value, vpath, pair=op == "between")
            if items is None:
                return "false"
            return self.list_condition(spec, col, op, items)
        one = self.scalar(spec, value, vpath)
        if one is None:
            return "false"
        return self.scalar_condition(spec, col, op, one)

    def items(self, spec: Field, value: Any, path: str, *, pair: bool) -> list[Any] | None:
        if not isinstance(value, list) or not value:
            self.fail(path, "a non-empty list" if not pair else "a list [low, high]")
            return None
        if pair and len(value) != 2:
            self.fail(path, "a list [low, high]")
            return None
        most = MAX_IDS if spec.kind == "id" else MAX_LIST
        if len(value) > most:
            self.fail(path, f"at most {most} values")
            return None
        items = [self.scalar(spec, v, f"{path}/{i}") for i, v in enumerate(value)]
        if any(i is None for i in items):
            return None
        if pair and items[0] > items[1]:
            self.fail(path, "low must not exceed high")
            return None
        return items

    def scalar(self, spec: Field, value: Any, path: str) -> Any:
        if spec.kind == "bool":
            if not isinstance(value, bool):
                self.fail(path, "true or false")
                return None
            return value
        if spec.kind in ("number", "probability", "tenure"):
            number = _number(value)
            if number is None or (spec.kind == "tenure" and number != number.to_integral_value()):
                self.fail(path, "a whole number of months" if spec.kind == "tenure" else "a number")
                return None
            if spec.kind == "probability" and not 0 <= number <= 1:
                self.fail(path, "a probability between 0 and 1")
                return None
            if spec.kind == "tenure" and not 0 <= number <= 1200:
                self.fail(path, "between 0 and 1200 months")
                return None
            return int(number) if spec.kind == "tenure" else float(number) if spec.kind == "probability" else number
        if spec.kind == "id":
            customer_id = _uuid(value)
            if customer_id is None:
                self.fail(path, "a customer id (UUID)")
            return customer_id
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
            self.fail(path, f"a non-empty string of at most {MAX_TEXT} characters")
            return None
        if spec.values and value not in spec.values:
            self.fail(path, f"one of {', '.join(spec.values)}")
            return None
        return value

    def scalar_condition(self, spec: Field, col: str, op: str, value: Any) -> str:
        if spec.kind == "tags":  # has
            return f"({col} @> ARRAY[CAST({self.bind(value)} AS varchar)])"
        if spec.kind == "tenure":
            # tenure >= n months <=> created at least n months ago; gt n = gte n+1, lte n = lt n+1
            months = value + 1 if op in ("gt", "lte") else value
            cmp = "<=" if op in ("gt", "gte") else ">"
            return f"coalesce({col} {cmp} now() - make_interval(months => CAST({self.bind(months)} AS int)), false)"
        if spec.kind == "consent" and value == "unknown":
            return f"({col} IS {'NOT ' if op == 'ne' else ''}NULL)"
        sql_op = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}.get(op)
        if op == "ne":
            return f"({col} IS DISTINCT FROM {self.bind(value)})"
        return f"coalesce({col} {sql_op} {self.bind(value)}, false)"

    def list_condition(self, spec: Field, col: str, op: str, items: list[Any]) -> str:
        if op == "between":
            if spec.kind == "tenure":
                low = self.scalar_condition(spec, col, "gte", items[0])
                return f"({low} AND {self.scalar_condition(spec, col, 'lte', items[1])})"
            return f"coalesce({col} BETWEEN {self.bind(items[0])} AND {self.bind(items[1])}, false)"
        if spec.kind == "tags":
            arr = f"CAST({self.bind(items)} AS varchar[])"
            return {
                "has_any": f"({col} && {arr})",
                "has_all": f"({col} @> {arr})",
                "has_none": f"(NOT {col} && {arr})",
            }[op]
        if spec.kind == "id":
            match = f"(a.customer_id = ANY(CAST({self.bind(items)} AS uuid[])))"
            return match if op == "in" else f"(NOT {match})"
        known = [i for i in items if not (spec.kind == "consent" and i == "unknown")]
        parts = [f"coalesce({col} = ANY(CAST({self.bind(known)} AS varchar[])), false)"] if known else []
        if len(known) < len(items):
            parts.append(f"({col} IS NULL)")
        match = "(" + " OR ".join(parts) + ")"
        return match if op == "in" else f"(NOT {match})"


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and abs(number) < Decimal("1e12") else None


def compile_rules(rules: Any, *, root: str = "#/rules", prefix: str = "seg_") -> Compiled:
    """Validate and compile a rule tree; raise RuleErrors naming every offending node."""
    compiler = _Compiler(root, prefix)
    where = compiler.node(rules, "", 0)
    if compiler.errors:
        raise RuleErrors(compiler.errors)
    return Compiled(where, compiler.params)


def field_catalogue() -> list[dict[str, Any]]:
    return [
        {
            "field": name,
            "type": f.kind,
            "ops": list(f.ops),
            "values": list(f.values) or None,
            "description": f.description,
        }
        for name, f in FIELDS.items()
    ]
