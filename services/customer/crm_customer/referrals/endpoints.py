"""Referrals endpoints."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/customers", tags=["referrals"])
