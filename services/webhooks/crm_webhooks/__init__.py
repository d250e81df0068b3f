"""Webhooks service: partner webhooks: subscriptions, signed deliveries, retries."""
