"""Webhook subscriptions: who receives which events, where, signed with which secret."""
