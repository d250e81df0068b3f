"""Overview: the base and its value at a glance, every figure linking to the customers behind it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..gateway import gather
from ..render import link, render
from ..session import ViewerDep

router = APIRouter(include_in_schema=False)
ACTIVE_STAGES = ("introduction", "growth", "maturity", "decline")


@router.get("/")
async def overview(request: Request, viewer: ViewerDep) -> Response:
    api = viewer.gateway
    answers = await gather(
        lifecycle=api.get("/api/v1/scores/distributions/lifecycle"),
        abc=api.get("/api/v1/scores/distributions/abc", {"points": 21}),
        rate=api.get("/api/v1/churn/reports/churn-rate", {"granularity": "month"}),
        profit=api.get("/api/v1/churn/reports/profit-lost"),
        watchlist=api.get("/api/v1/churn/watchlist/summary"),
    )
    lifecycle = answers["lifecycle"]
    churned = next((s["count"] for s in lifecycle.get("stages", []) if s["stage"] == "churned"), 0)
    classes = answers["abc"].get("classes", [])
    pareto = answers["abc"].get("pareto", [])
    return render(
        request,
        "overview.html",
        viewer=viewer,
        answers=answers,
        total=lifecycle.get("total"),
        active=(lifecycle.get("total") or 0) - churned,
        active_stages=ACTIVE_STAGES,
        pareto_links=[pareto_link(p["customer_share"], classes) for p in pareto],
        gold=sum(c["gold"] for c in classes),
        drag=sum(c["drag"] for c in classes),
    )


def pareto_link(customer_share: float, classes: list[dict[str, Any]]) -> str:
    """The customers behind a point of the Pareto curve: the ABC classes (ranked by revenue) that cover
    that top share of the base."""
    covered, chosen = 0.0, []
    for cls in classes:
        chosen.append(cls["class"])
        covered += float(cls["share"])
        if customer_share <= covered + 1e-9:
            break
    return link("/customers", abc_class=chosen)
