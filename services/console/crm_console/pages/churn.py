"""Churn: the rate per month or quarter, reasons in both taxonomies, profit lost against the retention
budget ceiling, the risk watchlist with its reasons and the mass-churn alerts; each with its filters."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..gateway import gather
from ..render import render
from ..session import ViewerDep
from .filters import query

router = APIRouter(include_in_schema=False)
REPORT_FILTERS = ("from", "to", "abc_class", "stage", "segment", "region", "channel", "reason")
STAGES = ("introduction", "growth", "maturity", "decline", "churned")
SIGNALS = ("declining", "complaints", "lapsed_top", "narrow_lines", "silent")
DIMENSIONS = ("overall", "abc_class", "segment", "region")
RECORD_STATUSES = ("churned", "in_winback", "won_back", "lost")


@router.get("/churn")
async def churn(request: Request, viewer: ViewerDep) -> Response:
    api = viewer.gateway
    params = request.query_params
    report = query(request, *REPORT_FILTERS)
    granularity = params.get("granularity") if params.get("granularity") in ("month", "quarter") else "month"
    saved_share = params.get("saved_share") or "1"
    watch = {
        k.removeprefix("watch_"): v
        for k, v in query(request, "watch_signal", "abc_class", "watch_stage", "region", "watch_cursor").items()
    }
    alerts = {k.removeprefix("alert_"): v for k, v in query(request, "alert_dimension", "alert_cursor").items()}
    records = {"status": params.get("record_status"), "reason": report.get("reason"),
               "abc_class": report.get("abc_class"), "segment": report.get("segment"), "region": report.get("region"),
               "from": f"{report['from']}T00:00:00Z" if report.get("from") else None,
               "to": f"{report['to']}T00:00:00Z" if report.get("to") else None,
               "cursor": params.get("record_cursor"), "limit": 20}  # fmt: skip
    answers = await gather(
        rate=api.get("/api/v1/churn/reports/churn-rate", {**report, "granularity": granularity}),
        reasons=api.get("/api/v1/churn/reports/reasons", report),
        profit=api.get("/api/v1/churn/reports/profit-lost", report),
        budget=api.get("/api/v1/churn/reports/retention-budget", {**report, "saved_share": saved_share}),
        watchlist=api.get("/api/v1/churn/watchlist", {**watch, "limit": 20}),
        watch_summary=api.get("/api/v1/churn/watchlist/summary", {k: v for k, v in watch.items() if k != "cursor"}),
        alerts=api.get("/api/v1/churn/alerts", {**alerts, "limit": 10}),
        records=api.get("/api/v1/churn/records", records),
    )
    return render(
        request,
        "churn.html",
        viewer=viewer,
        filters=report,
        granularity=granularity,
        saved_share=saved_share,
        record_status=params.get("record_status", ""),
        watch=watch,
        alert_filters=alerts,
        stages=STAGES,
        signals=SIGNALS,
        dimensions=DIMENSIONS,
        record_statuses=RECORD_STATUSES,
        **answers,
    )
