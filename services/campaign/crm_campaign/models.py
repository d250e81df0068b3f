"""Every table of the service, imported in one place for Alembic: add each domain's models.py here."""

from .base import Base

__all__ = ["Base"]
