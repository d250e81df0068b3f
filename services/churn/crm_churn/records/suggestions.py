"""Suggested reasons from evidence (DOMAIN.md 3): complaints that were never resolved point to *left
dissatisfied*; complaints about price point to *price*. Rules as data: each names the reason it suggests
and which complaints are its evidence. Suggestions are shown with their evidence, never applied."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..customers.models import CustomerComplaint

UNRESOLVED = ("open", "in_progress")
PRICE_WORDS = ("price", "pricing", "expensive", "cost")


@dataclass(frozen=True)
class Rule:
    reason: str
    description: str
    evidence: Callable[[CustomerComplaint], bool]


RULES = (
    Rule("left_dissatisfied", "complaints not resolved", lambda c: c.status in UNRESOLVED),
    Rule(
        "price",
        "complaints about price",
        lambda c: any(w in c.category.lower() for w in PRICE_WORDS),
    ),
)


def evidence_by_reason(complaints: list[CustomerComplaint]) -> list[tuple[Rule, list[CustomerComplaint]]]:
    """Each rule with the complaints that support it (rules without evidence left out)."""
    out = []
    for rule in RULES:
        hits = [c for c in complaints if rule.evidence(c)]
        if hits:
            out.append((rule, hits))
    return out
