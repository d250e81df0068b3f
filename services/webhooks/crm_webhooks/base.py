from sqlalchemy.orm import DeclarativeBase

from crm_shared.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
