"""The analysis phase's rules, as pure functions of a churn record's reasons and value and the rules
document: who is pursued (DOMAIN.md 3: low value is not; abandoned, forced and bought-off customers are
excluded; attracted, left dissatisfied and other are pursued), which reason leads, which strategy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from .schemas import SimilarOutcome, Strategy, WinbackRules

DEFAULT_STRATEGY: Strategy = "personal_conversation"


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    primary_reason: str | None
    rule: str | None = None  # the rule that excluded it: reason, min_value, unclassified
    detail: str | None = None


def expected_value(clv: Decimal | None, revenue_12m: Decimal, margin: Decimal) -> Decimal:
    """The value a won-back customer is expected to bring: its CLV at churn, or, when scoring had none,
    a year's profit (revenue of the last 12 months x margin)."""
    if clv is not None:
        return clv
    return (revenue_12m * margin).quantize(Decimal("0.01"))


def evaluate(reasons: Sequence[str], value: Decimal, rules: WinbackRules) -> Verdict:
    """Excluded reasons first (they hold whatever the value), then the value threshold, then the pursued
    reasons (the first in the rules' order leads); a record with none of them follows `unclassified`."""
    excluded = [r for r in rules.excluded_reasons if r in reasons]
    if excluded:
        return Verdict(False, None, "reason", f"churned for a reason not pursued: {', '.join(excluded)}")
    if value < rules.min_expected_value:
        detail = f"expected value {value:,.2f} is below the threshold {rules.min_expected_value:,.2f}"
        return Verdict(False, None, "min_value", detail)
    primary = next((r for r in rules.pursued_reasons if r in reasons), None)
    if primary is None and rules.unclassified == "exclude":
        return Verdict(False, None, "unclassified", "no pursued reason recorded")
    return Verdict(True, primary)


def recommend(
    primary_reason: str | None, similar: Sequence[SimilarOutcome], rules: WinbackRules
) -> tuple[Strategy, str]:
    """The reason's default strategy, unless similar closed cases show another strategy succeeding more
    often (over at least `min_similar_cases` of them)."""
    default = rules.strategies.get(primary_reason or "", DEFAULT_STRATEGY)
    basis = f"the default for {primary_reason or 'unclassified'} churners"
    proven = [s for s in similar if s.closed >= rules.min_similar_cases and s.success_rate is not None]
    if not proven:
        return default, basis + " (too few similar closed cases to compare)"
    best = max(proven, key=lambda s: (s.success_rate or 0.0, s.closed))
    own = next((s for s in proven if s.strategy == default), None)
    if best.strategy != default and (own is None or (best.success_rate or 0) > (own.success_rate or 0)):
        return best.strategy, f"won back {best.won} of {best.closed} similar cases ({best.success_rate:.0%})"  # type: ignore[return-value]
    return default, basis + f" (won back {best.won} of {best.closed} similar cases)"
