"""Contracts and infrastructure shared by every part of the retention CRM."""
