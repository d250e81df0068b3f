"""RFC 9457 problem+json: one error type for expected failures, one renderer for every error."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
# Lock timeout, deadlock, serialization failure: nothing is wrong with the request; retrying is.
RETRYABLE_SQLSTATES = frozenset({"55P03", "40P01", "40001"})
# The database is down, restarting or full: the service is unavailable for now (503), not broken.
# Class 08 (connection exceptions), admin/crash shutdown, cannot connect now, too many connections.
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
DATABASE_RETRY_AFTER = "5"
log = logging.getLogger("crm.errors")


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (SQLAlchemy's .orig, __cause__, __context__), a few levels deep."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 8:
        current = todo.pop()
        if current is None or current in seen:
            continue
        seen.append(current)
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return seen


def sqlstate_of(exc: BaseException) -> str | None:
    for cause in _causes(exc):
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def database_unavailable(exc: BaseException) -> bool:
    """True when the error says the database cannot be reached, rather than that a statement failed."""
    import asyncpg  # the services' driver; imported here so the module stays light for the gateway
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    for cause in _causes(exc):
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(
            cause,
            PoolTimeout
            | ConnectionError
            | asyncpg.exceptions.ConnectionDoesNotExistError
            | asyncpg.InterfaceError
            # A pooled connection that just received the server's shutdown notice: "cannot switch to
            # state ...; another operation is in progress" on the next statement (seen in the fault test).
            | asyncpg.exceptions.InternalClientError,
        ):
            return True
        if isinstance(cause, OSError) and cause.errno is not None:  # refused, unreachable, reset
            return True
    return False


class FieldError(msgspec.Struct, omit_defaults=True):
    """One field-level problem: `pointer` is a JSON Pointer into the request body; query and header
    problems name the `parameter` or `header` instead."""

    detail: str
    pointer: str | None = None
    parameter: str | None = None
    header: str | None = None


class ProblemError(Exception):
    """An expected failure rendered as problem+json. Subclasses fix status, type and title."""

    status: int = 500
    type: str = "about:blank"
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors or [])
        self.headers = headers or {}
        self.extensions = extensions


class BadRequest(ProblemError):
    status, type, title = 400, "https://crm.example/problems/bad-request", "Bad Request"


class Unauthorized(ProblemError):
    status, type, title = 401, "https://crm.example/problems/unauthorized", "Unauthorized"


class Forbidden(ProblemError):
    status, type, title = 403, "https://crm.example/problems/forbidden", "Forbidden"


class NotFound(ProblemError):
    status, type, title = 404, "https://crm.example/problems/not-found", "Not Found"


class MethodNotAllowed(ProblemError):
    status, type, title = 405, "https://crm.example/problems/method-not-allowed", "Method Not Allowed"


class Conflict(ProblemError):
    status, type, title = 409, "https://crm.example/problems/conflict", "Conflict"


class PreconditionFailed(ProblemError):
    status, type, title = 412, "https://crm.example/problems/precondition-failed", "Precondition Failed"


class PayloadTooLarge(ProblemError):
    status, type, title = 413, "https://crm.example/problems/payload-too-large", "Payload Too Large"


class UnsupportedMediaType(ProblemError):
    status, type, title = 415, "https://crm.example/problems/unsupported-media-type", "Unsupported Media Type"


class Unprocessable(ProblemError):
    status, type, title = 422, "https://crm.example/problems/validation", "Unprocessable Content"


class PreconditionRequired(ProblemError):
    status, type, title = 428, "https://crm.example/problems/precondition-required", "Precondition Required"


class TooManyRequests(ProblemError):
    status, type, title = 429, "https://crm.example/problems/rate-limited", "Too Many Requests"


class BadGateway(ProblemError):
    status, type, title = 502, "https://crm.example/problems/upstream-unavailable", "Bad Gateway"


class ServiceUnavailable(ProblemError):
    status, type, title = 503, "https://crm.example/problems/unavailable", "Service Unavailable"


class GatewayTimeout(ProblemError):
    status, type, title = 504, "https://crm.example/problems/upstream-timeout", "Gateway Timeout"


class FieldErrorDoc(BaseModel):
    detail: str = Field(description="what is wrong with the field")
    pointer: str | None = Field(default=None, description="JSON Pointer into the request body, e.g. #/orders/3/amount")
    parameter: str | None = Field(default=None, description="the query or path parameter at fault")
    header: str | None = Field(default=None, description="the header at fault")


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every 4xx and 5xx response (application/problem+json)."""

    type: str = Field(examples=["https://crm.example/problems/validation"])
    title: str = Field(examples=["Unprocessable Content"])
    status: int = Field(examples=[422])
    detail: str | None = None
    instance: str | None = Field(default=None, description="the request path")
    errors: list[FieldErrorDoc] | None = Field(default=None, description="one entry per bad field")


def document_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a generated OpenAPI document so every operation declares the problem+json responses it
    really sends, instead of FastAPI's default validation error shape."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for name, model in (("Problem", Problem), ("FieldError", FieldErrorDoc)):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schema.pop("$defs", None)
        schemas[name] = schema
    schemas["Problem"]["properties"]["errors"]["anyOf"][0]["items"] = {"$ref": "#/components/schemas/FieldError"}
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, response in list(responses.items()):
                if code.startswith(("4", "5")):
                    response["content"] = problem
            responses.setdefault("4XX", {"description": "Client error (problem+json)", "content": problem})
            responses.setdefault("5XX", {"description": "Server error (problem+json)", "content": problem})
    return spec


def problem_body(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    instance: str | None = None,
    errors: Sequence[FieldError] = (),
    **extensions: Any,
) -> bytes:
    body: dict[str, Any] = {"type": type_, "title": title or _reason(status), "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    body.update(extensions)
    return msgspec.json.encode(body)


def problem_response(status: int, *, headers: dict[str, str] | None = None, **kwargs: Any) -> Response:
    return Response(problem_body(status, **kwargs), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def pointer_from_loc(loc: Sequence[int | str]) -> FieldError:
    """Turn a pydantic error location into the field reference RFC 9457 clients expect."""
    where, *path = loc or ("body",)
    if where == "body":
        return FieldError(detail="", pointer="#" + "".join(f"/{p}" for p in path))
    if where == "query" or where == "path":
        return FieldError(detail="", parameter=".".join(str(p) for p in path))
    if where == "header":
        return FieldError(detail="", header=".".join(str(p) for p in path))
    return FieldError(detail="", pointer="#" + "".join(f"/{p}" for p in loc))


def validation_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        ref = pointer_from_loc(err.get("loc", ()))
        ref.detail = err.get("msg", "invalid value")
        out.append(ref)
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Render every error the app can raise as problem+json."""

    # The decorator, not add_exception_handler: Starlette types a handler's exception as Exception, so a
    # handler of one exception class type-checks only through the decorator's pass-through typing.
    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(
            exc.status,
            title=exc.title,
            detail=exc.detail,
            type_=exc.type,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = validation_errors(exc)
        return problem_response(
            422,
            title="Unprocessable Content",
            type_=Unprocessable.type,
            detail=f"{len(errors)} invalid field(s)",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(
            exc.status_code,
            detail=str(exc.detail) if exc.detail else None,
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    app.add_middleware(UnhandledErrorMiddleware)


def unhandled_response(method: str, path: str, exc: Exception) -> Response:
    """What any other exception becomes: 503 for a database outage, 409 for a retryable conflict, else 500."""
    sqlstate = sqlstate_of(exc)
    if database_unavailable(exc):
        # Expected during an outage: one line, no traceback.
        log.warning("database unavailable on %s %s: %s", method, path, type(exc).__name__)
        return problem_response(
            503,
            title="Service Unavailable",
            type_=ServiceUnavailable.type,
            detail="the database is unavailable; retry shortly",
            instance=path,
            headers={"Retry-After": DATABASE_RETRY_AFTER},
        )
    if sqlstate in RETRYABLE_SQLSTATES:
        log.warning("retryable conflict on %s %s (SQLSTATE %s)", method, path, sqlstate)
        return problem_response(
            409,
            title="Conflict",
            type_=Conflict.type,
            detail="a concurrent change holds this data; retry shortly",
            instance=path,
            headers={"Retry-After": "1"},
        )
    log.exception("unhandled error on %s %s", method, path, exc_info=exc)
    return problem_response(500, detail="an unexpected error occurred", instance=path)


class UnhandledErrorMiddleware:
    """Turn any exception a handler lets through into its problem response, and stop it there.

    Starlette's own catch-all (ServerErrorMiddleware) re-raises after answering, so the server logged a
    traceback for every expected 409 and closed the connection, and the gateway's next request on that
    pooled connection failed with 502. Here the exception ends with the response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for a status: let the server drop the connection
                raise
            response = unhandled_response(scope["method"], scope["path"], exc)
            await response(scope, receive, send)
