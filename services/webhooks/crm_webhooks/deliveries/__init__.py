"""Deliveries: one signed POST of one event to one subscription, retried until it succeeds or dies."""
