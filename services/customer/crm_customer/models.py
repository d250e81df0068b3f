"""Every table of the service, imported in one place for Alembic."""

from .base import Base
from .customers.models import Customer, CustomerRef
from .orders.models import Order

__all__ = ["Base", "Customer", "CustomerRef", "Order"]
