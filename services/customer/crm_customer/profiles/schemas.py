"""Profile answer contracts: the input, the read model (also the `answer` of `profile.answered`), the profile."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.bounds import Instant
from crm_shared.schemas.common import ReadModel
from crm_shared.schemas.events import AnswerChannel

QUESTION_KEY = r"^[a-z][a-z0-9_.]{0,63}$"


class ProfileAnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question_key: str = Field(pattern=QUESTION_KEY, examples=["household.children"])
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    channel: AnswerChannel | None = None
    answered_at: Instant | None = Field(default=None, description="default now; not in the future")


class ProfileAnswerRead(ReadModel):
    id: int
    customer_id: uuid.UUID
    question_key: str
    answer: str
    channel: AnswerChannel | None
    answered_at: datetime


class ProfileAnswerFilters(BaseModel):
    question_key: str | None = Field(default=None, pattern=QUESTION_KEY)


class ProfileEntry(BaseModel):
    question_key: str
    answer: str
    channel: AnswerChannel | None
    answered_at: datetime


class CustomerProfile(BaseModel):
    """The latest answer to each question, by question key."""

    customer_id: uuid.UUID
    answers: list[ProfileEntry]
