"""The console's pages, one module per area, each reading its API through the user's gateway view."""

from fastapi import APIRouter

from . import campaigns, churn, complaints, customers, overview, winback

ROUTERS: tuple[APIRouter, ...] = (
    overview.router,
    customers.router,
    churn.router,
    winback.router,
    campaigns.router,
    complaints.router,
)
