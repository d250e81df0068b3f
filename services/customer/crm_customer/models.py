"""Every table of the service, imported in one place for Alembic."""

from .base import Base
from .complaints.models import Complaint, ComplaintCategory, ComplaintSla, ComplaintStatusChange
from .consent.models import Consent, ConsentRecord
from .contacts.models import Contact
from .customers.models import Customer, CustomerRef
from .hygiene.models import CustomerMerge, DuplicateKey, NameGroup, NameGroupMark
from .interactions.models import Interaction
from .orders.models import Order
from .profiles.models import ProfileAnswer
from .referrals.models import Referral
from .tags.models import CustomerTag, Tag

__all__ = [
    "Base",
    "Complaint",
    "ComplaintCategory",
    "ComplaintSla",
    "ComplaintStatusChange",
    "Consent",
    "ConsentRecord",
    "Contact",
    "Customer",
    "CustomerMerge",
    "CustomerRef",
    "CustomerTag",
    "DuplicateKey",
    "Interaction",
    "NameGroup",
    "NameGroupMark",
    "Order",
    "ProfileAnswer",
    "Referral",
    "Tag",
]
