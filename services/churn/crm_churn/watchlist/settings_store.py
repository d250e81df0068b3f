"""Settings kept as data: one named document per domain (`watchlist`, `winback`), validated by its pydantic
model, replaced whole with If-Match (428 without it, 412 when stale). A name the table lacks is in force
with its model's defaults, at version 0."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.errors import FieldError, PreconditionFailed, PreconditionRequired, Unprocessable
from crm_shared.etags import etag

from .models import SettingsDocument

M = TypeVar("M", bound=BaseModel)


class Stored(BaseModel, Generic[M]):
    """A settings document as the API shows it (its ETag is `version`)."""

    settings: M
    version: int
    updated_at: datetime | None
    updated_by: str | None


def _pointer(loc: tuple[int | str, ...]) -> str:
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


def validated(model: type[M], body: Any) -> M:
    """The document as its model reads it, or 422 pointing at each bad field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [FieldError(detail=e["msg"], pointer=_pointer(e["loc"])) for e in exc.errors()]
        raise Unprocessable("the settings are not valid", errors=errors) from None


async def load(session: AsyncSession, name: str, model: type[M], *, lock: bool = False) -> Stored[M]:
    stmt = select(SettingsDocument).where(SettingsDocument.name == name)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        return Stored[model](settings=model(), version=0, updated_at=None, updated_by=None)  # type: ignore[valid-type]
    return Stored[model](  # type: ignore[valid-type]
        settings=model.model_validate(row.body),
        version=row.version,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


async def replace(
    session: AsyncSession, name: str, settings: M, *, if_match: int | None, by: str
) -> tuple[Stored[M], bool]:
    """Store the document (already validated); True when it changed (an identical one keeps the version)."""
    if if_match is None:
        raise PreconditionRequired("send If-Match with the ETag of the settings you read")
    model = type(settings)
    current = await load(session, name, model, lock=True)
    if if_match != current.version:
        raise PreconditionFailed(
            f"the settings changed since they were read (now version {current.version})", version=current.version
        )
    if current.version and current.settings == settings:
        return current, False
    body = settings.model_dump(mode="json")
    stmt = (
        insert(SettingsDocument)
        .values(name=name, body=body, version=1, updated_by=by)
        .on_conflict_do_update(
            index_elements=[SettingsDocument.name],
            set_={"body": body, "version": SettingsDocument.version + 1, "updated_by": by, "updated_at": func.now()},
        )
        .returning(SettingsDocument.version, SettingsDocument.updated_at, SettingsDocument.updated_by)
    )
    row = (await session.execute(stmt)).one()
    stored = Stored[model](  # type: ignore[valid-type]
        settings=settings, version=row.version, updated_at=row.updated_at, updated_by=row.updated_by
    )
    return stored, True


class Document(Generic[M]):
    """One named document and its model: `WATCHLIST = Document("watchlist", WatchlistSettings)`."""

    def __init__(self, name: str, model: type[M]) -> None:
        self.name, self.model = name, model

    async def load(self, session: AsyncSession) -> Stored[M]:
        return await load(session, self.name, self.model)

    async def replace(
        self, session: AsyncSession, body: object, *, if_match: int | None, by: str
    ) -> tuple[Stored[M], bool]:
        """Validate (422 naming each bad field) and store the whole document; True when it changed."""
        return await replace(session, self.name, validated(self.model, body), if_match=if_match, by=by)


def etagged(stored: Stored[Any]) -> Response:
    """A GET's answer: the document, with the ETag that `If-Match` on a replace expects."""
    return Response(stored.model_dump_json(), media_type="application/json", headers={"ETag": etag(stored.version)})
