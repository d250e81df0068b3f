"""Churn service: churn measurement and reasons, profit lost, win-back workflow."""
