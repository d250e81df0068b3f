"""The input-hygiene layer every service shares (issue 10): the input guard middleware on a probe app built
like every service (create_service_app, no database), and the shared rules it and the schemas apply:
text without control characters, bounded dates, amounts, ETags, cursors and sorts, normalised emails and
phones. Endpoint-level cases are in tests/customer/test_input_edges.py and tests/scoring/."""

from __future__ import annotations

import typing
import unicodedata
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import httpx
import msgspec
import pytest
from fastapi import APIRouter, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, StringConstraints, ValidationError

from crm_customer.customers.normalize import normalize_email, normalize_phone
from crm_shared import bounds
from crm_shared.access import allow
from crm_shared.app import create_service_app
from crm_shared.auth import Principal
from crm_shared.bounds import Amount, Day, Instant
from crm_shared.errors import ProblemError
from crm_shared.etags import NO_MATCH, etag, parse_if_match
from crm_shared.input_guard import MAX_JSON_DEPTH, checks_text_per_row, json_too_deep
from crm_shared.pagination import decode_cursor, encode_cursor, parse_sort
from crm_shared.settings import ServiceSettings
from crm_shared.testing import TEST_PRINCIPAL_KEY, app_client, principal_headers
from crm_shared.text import SingleLine, bad_text, suspicious, text_problem

JSON = {"content-type": "application/json"}


class Note(BaseModel):
    title: Annotated[str, StringConstraints(max_length=100), SingleLine]
    body: str | None = None  # free text: line breaks allowed
    tags: dict[str, Any] = {}


def probe_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/probe")

    @router.post("/notes")
    async def create_note(note: Note, principal: Annotated[Principal, allow("customers:write")]) -> Note:
        return note

    @router.post("/rows")
    @checks_text_per_row
    async def push_rows(request: Request, principal: Annotated[Principal, allow("customers:write")]) -> dict:
        return {"bytes": len(await request.body())}

    @router.post("/ping")
    async def ping(principal: Annotated[Principal, allow("customers:write")]) -> dict:
        return {"pong": True}  # no body at all

    @router.get("/things/{key}")
    async def thing(key: str, principal: Annotated[Principal, allow("customers:read")], q: str = "") -> dict:
        return {"key": key, "q": q}

    @router.get("/window")
    async def window(
        principal: Annotated[Principal, allow("customers:read")],
        at: Annotated[Instant | None, Query()] = None,
        day: Annotated[Day | None, Query()] = None,
    ) -> dict:
        return {"at": at.isoformat() if at else None, "day": day.isoformat() if day else None}

    return router


def internal_router() -> APIRouter:
    router = APIRouter()

    @router.post("/internal/probe")
    async def deliver(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    return router


@pytest.fixture
async def probe() -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        service_name="probe",
        cursor_secret="c" * 32,
        event_secret="e" * 32,
        principal_keys=[TEST_PRINCIPAL_KEY],
        max_body_bytes=64 * 1024,
        max_event_body_bytes=1024 * 1024,
        log_json=False,
    )
    app = create_service_app(
        settings=settings, title="probe", description="", service_dir=None, routers=[probe_router(), internal_router()]
    )
    caller = principal_headers("u1", "user", "customers:read", "customers:write", service="probe")
    async with app_client(app, headers=caller) as client:
        yield client


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return r.json()


# -- the middleware: size, type, encoding, depth ----------------------------------------------------


async def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(probe):
    big = b'{"title": "x", "body": "' + b"a" * (64 * 1024) + b'"}'
    _problem(await probe.post("/api/v1/probe/notes", content=big, headers=JSON), 413)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    _problem(await probe.post("/api/v1/probe/notes", content=chunks(), headers=JSON), 413)
    ok = await probe.post("/api/v1/probe/notes", content=big[:1000] + b'"}', headers=JSON)
    assert ok.status_code == 200, ok.text


async def test_deliveries_between_services_have_their_own_size_bound(probe):
    """A relay's POST carries up to ~5,000 events plus one whole outbox message: more than an API call."""
    body = b'["' + b"e" * (200 * 1024) + b'"]'
    r = await probe.post("/internal/probe", content=body)  # signed, not typed by Content-Type
    assert r.json() == {"bytes": len(body)}
    _problem(await probe.post("/internal/probe", content=b"[" + body * 6 + b"]"), 413)
    _problem(await probe.post("/internal/probe", content=b"[" * 40 + b"]" * 40), 422)  # depth still counts


@pytest.mark.parametrize("content_type", [None, "text/plain", "multipart/form-data; boundary=x", "application/jsonx"])
async def test_an_api_body_must_be_declared_json(probe, content_type):
    headers = {"content-type": content_type} if content_type else {}
    problem = _problem(await probe.post("/api/v1/probe/notes", content=b'{"title": "a"}', headers=headers), 415)
    assert problem["errors"] == [{"detail": "send application/json", "header": "Content-Type"}]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"]
)
async def test_json_media_types_pass(probe, content_type):
    r = await probe.post("/api/v1/probe/notes", content=b'{"title": "a"}', headers={"content-type": content_type})
    assert r.status_code == 200, r.text


async def test_a_write_without_a_body_needs_no_content_type(probe):
    assert (await probe.post("/api/v1/probe/ping")).status_code == 200


@pytest.mark.parametrize("body", [b'{"title": "\xff"}', b'{"title": "\xc3\x28"}', b'{"title": "\xed\xa0\x80"}'])
async def test_a_body_that_is_not_utf8_is_400(probe, body):
    problem = _problem(await probe.post("/api/v1/probe/notes", content=body, headers=JSON), 400)
    assert "UTF-8" in problem["detail"]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 30_000])
async def test_json_nested_too_deep_is_422_and_the_limit_itself_passes(probe, depth):
    def note(levels: int) -> bytes:
        return b'{"title": "a", "tags": {"x": ' + b"[" * levels + b"]" * levels + b"}}"

    problem = _problem(await probe.post("/api/v1/probe/notes", content=note(depth), headers=JSON), 422)
    assert "deep" in problem["detail"]
    r = await probe.post("/api/v1/probe/notes", content=note(MAX_JSON_DEPTH - 2), headers=JSON)  # 2 objects around
    assert r.status_code == 200, r.text


def test_depth_counting_ignores_brackets_inside_strings():
    assert not json_too_deep(b'{"a": "' + b"[" * 100 + b'"}')
    assert not json_too_deep(b'["' + b"]" * 100 + b'", ' + b"[" * 20 + b"]" * 20 + b"]")
    assert json_too_deep(b'{"a": "]]]]", "b": ' + b"[" * 40 + b"]" * 40 + b"}")
    assert json_too_deep(b"[" * 40)  # unclosed: the parsers recurse just the same
    assert not json_too_deep(b'{"orders": [' + b",".join([b'{"a": [{"b": {"c": 1}}]}'] * 5000) + b"]}")


# -- the middleware: control characters -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (b'{"title": "a\\u0000b"}', "#/title"),
        (b'{"title": "a", "body": "x\\u001b[31m"}', "#/body"),
        (b'{"title": "a", "tags": {"k": ["ok", "bad\\u0007"]}}', "#/tags/k/1"),
        (b'{"title": "a", "tags": {"k\\u0000": 1}}', "#/tags/k\u0000"),
        (b'{"title": "a", "tags": {"a/b": "\\ud800"}}', "#/tags/a~1b"),
        (b'{"title": "a", "body": "\xc2\x85"}', "#/body"),  # NEL, a C1 control as raw UTF-8
        (b'{"title": "a", "body": "\x7f"}', "#/body"),
    ],
)
async def test_a_control_character_in_a_body_is_422_naming_the_field(probe, body, pointer):
    problem = _problem(await probe.post("/api/v1/probe/notes", content=body, headers=JSON), 422)
    assert pointer in [e["pointer"] for e in problem["errors"]]


async def test_line_breaks_stay_in_free_text_but_not_in_a_single_line_field(probe):
    note = {"title": "Tea", "body": "line one\nline two\r\n\tend", "tags": {"note": "a\tb"}}
    r = await probe.post("/api/v1/probe/notes", json=note)
    assert r.status_code == 200, r.text
    assert r.json()["body"] == note["body"]
    problem = _problem(await probe.post("/api/v1/probe/notes", json={"title": "Tea\nparty"}), 422)
    assert [e["pointer"] for e in problem["errors"]] == ["#/title"]


async def test_a_route_that_checks_rows_itself_gets_the_text_as_sent(probe):
    r = await probe.post("/api/v1/probe/rows", content=b'{"rows": [{"a": "\\u0000"}]}', headers=JSON)
    assert r.status_code == 200, r.text
    too_deep = b"[" * 50 + b"]" * 50  # size, encoding and depth still apply
    _problem(await probe.post("/api/v1/probe/rows", content=too_deep, headers=JSON), 422)


@pytest.mark.parametrize(
    ("url", "parameter", "status"),
    [
        ("/api/v1/probe/things/a?q=b%00c", "q", 422),
        ("/api/v1/probe/things/a?q=line%0Abreak", "q", 422),
        ("/api/v1/probe/things/a?q%01=1", "q\u0001", 422),
        ("/api/v1/probe/things/a?q=%C2%85", "q", 422),
        ("/api/v1/probe/things/a?q=%FF%FE", "q", 422),  # broken UTF-8, percent-escaped
        ("/api/v1/probe/things/a?x=1&q=caf%C3", "q", 422),  # a truncated sequence
        ("/api/v1/probe/things/a%00b", "key", 422),
        ("/api/v1/probe/nowhere%00", None, 404),
    ],
)
async def test_a_control_character_in_the_url_is_refused_naming_the_parameter(probe, url, parameter, status):
    problem = _problem(await probe.get(url), status)
    if parameter is not None:
        assert [e["parameter"] for e in problem["errors"]] == [parameter]


async def test_ordinary_urls_and_bodies_pass_untouched(probe):
    r = await probe.get("/api/v1/probe/things/caf%C3%A9", params={"q": "José + 50% [x]"})
    assert r.json() == {"key": "café", "q": "José + 50% [x]"}
    body = {"title": 'Ñandú ✓ \\ "quoted"', "body": "€ 5 — ok", "tags": {"é": ["[", "{"]}}
    r = await probe.post("/api/v1/probe/notes", json=body)
    assert r.json() == body


# -- the shared text rule --------------------------------------------------------------------------


def test_text_rule():
    assert text_problem("Ana Ruiz") is None
    assert text_problem("a\nb") is None
    assert text_problem("a\nb", single_line=True) == "must be a single line (no tab or line break)"
    assert text_problem("a\u2028b", single_line=True) is not None
    for bad in ("\x00", "\x08", "\x1b", "\x7f", "\x85", "\x9f", "\ud800", "\udfff"):
        assert text_problem(f"a{bad}b") is not None, repr(bad)
    assert text_problem("😀 é ß \u00a0") is None
    assert bad_text({"a": ["ok", {"b": "x\x00"}]}) == [bad_text({"b": "x\x00"}, "#/a/1")[0]]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": "plain"}', False),
        (b'{"a": "caf\\u00e9 \\"q\\" \\\\ \\/"}', False),  # escapes of printable characters
        (b'{"a": "x\\u0000"}', True),
        (b'{"a": "x\\n"}', True),
        (b'{"a": "x\\b"}', True),
        (b'{"a": "x\\ud83d\\ude00"}', True),  # surrogates: parsed to tell a pair from a lone one
        (b'{"a": "\xc2\xa3 \xe2\x82\xac"}', False),  # pound, euro
        (b'{"a": "\xc2\x9b"}', True),
        (b'{"a": "\xe2\x80\xa8"}', True),
    ],
)
def test_the_cheap_pre_check(body, expected):
    assert suspicious(body) is expected


# -- dates, amounts and the ranges every service shares ---------------------------------------------


class Window(BaseModel):
    at: Instant
    day: Day | None = None


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:30:00+01:00", "0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "2201-01-01T00:00:00Z",
     "9999-12-31T23:59:59-01:00", "2026-01-01T00:00:00"],
)  # fmt: skip
def test_instants_outside_the_range_or_without_offset_are_refused(value):
    with pytest.raises(ValidationError):
        Window(at=value)


def test_instants_in_range_come_back_in_utc():
    assert Window(at="1900-01-01T01:00:00+01:00").at == datetime(1900, 1, 1, tzinfo=UTC)
    assert Window(at="2200-12-31T23:59:59Z").at.year == 2200
    with pytest.raises(ValidationError):
        Window(at="2026-01-01T00:00:00Z", day="9999-12-31")
    assert Window(at="2026-01-01T00:00:00Z", day="2200-12-31").day == date(2200, 12, 31)


async def test_date_query_parameters_are_bounded(probe):
    r = await probe.get("/api/v1/probe/window", params={"at": "0001-01-01T00:30:00+01:00"})
    assert [e["parameter"] for e in _problem(r, 422)["errors"]] == ["at"]
    r = await probe.get("/api/v1/probe/window", params={"day": "9999-12-31"})
    assert [e["parameter"] for e in _problem(r, 422)["errors"]] == ["day"]
    ok = await probe.get("/api/v1/probe/window", params={"at": "2026-11-20T10:15:00+02:00"})
    assert ok.json()["at"] == "2026-11-20T08:15:00+00:00"


class Price(BaseModel):
    amount: Amount


@pytest.mark.parametrize("value", ["12.50", "0", "999999999.9999", 12.5, 7, "007.10"])
def test_plain_amounts(value):
    assert Price(amount=value).amount == Decimal(str(value)).quantize(Decimal("0.0001"))


@pytest.mark.parametrize(
    "value",
    ["1_000", " 5 ", "5 ", "\u0665", "\uff15", "1e3", "+5", ".5", "5.", "NaN", "Infinity", "-1", "1000000000",
     "1.23456", 1e309, float("nan"), True, "", "0x10", "12.50\n"],
)  # fmt: skip
def test_amounts_that_are_not_plain_or_out_of_range(value):
    with pytest.raises(ValidationError):
        Price(amount=value)


def test_the_amount_range_is_what_the_scoring_columns_hold():
    # scoring keeps amounts and each customer's sums in numeric(14, 2): below 10**12. The accepted range
    # leaves three orders of magnitude for the sums (see tests/scoring/test_input_edges.py for the columns).
    assert Decimal(10) ** 12 >= bounds.MAX_AMOUNT * 1000
    assert bounds.DECIMAL_PLACES == 4


# -- If-Match, cursors, sort -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ('"3"', 3),
        ('W/"3"', 3),
        (" 3 ", 3),
        ('"9223372036854775807"', 2**63 - 1),
        ('"9223372036854775808"', NO_MATCH),
        ('"' + "9" * 5000 + '"', NO_MATCH),
        ('"²"', NO_MATCH),
        ('"\u0661"', NO_MATCH),
        ('"-1"', NO_MATCH),
        ('"1", "2"', NO_MATCH),
        ("*", NO_MATCH),
        ('""', NO_MATCH),
        ('"abc"', NO_MATCH),
    ],
)
def test_if_match_reads_only_our_etags(header, expected):
    assert parse_if_match(header) == expected
    assert etag(3) == '"3"'


def test_no_if_match_parser_is_copied_into_a_service():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    copies = [p for p in root.glob("services/*/crm_*/**/*.py") if "def _parse_if_match" in p.read_text()]
    assert copies == []


def _signed(payload: bytes, secret: str = "s") -> str:
    import base64
    import hashlib
    import hmac

    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


def test_a_cursor_with_a_valid_signature_but_a_malformed_payload_is_400_naming_cursor():
    filters = {"status": None}
    good = encode_cursor(["2026-01-01T00:00:00+00:00", 7], filters, "s")
    assert decode_cursor(good, filters, "s", shape=(datetime, int)) == [datetime(2026, 1, 1, tzinfo=UTC), 7]
    digest = msgspec.json.decode(__import__("base64").urlsafe_b64decode(good + "==")[:-12])["f"]
    for payload in (
        b"not json",
        b"[1, 2]",
        b'{"f": "%s"}',
        b'{"p": "x", "f": "%s"}',
        b'{"p": [[1]], "f": "%s"}',
        b'{"p": [99999999999999999999], "f": "%s"}',
        b'{"p": ["2026-01-01T00:00:00+00:00"], "f": "%s"}',
        b'{"p": ["yesterday", 7], "f": "%s"}',
        b'{"p": ["0001-01-01T00:30:00+01:00", 7], "f": "%s"}',
        b'{"p": ["2026-01-01T00:00:00+00:00", "7x"], "f": "%s"}',
        b'{"p": ["2026-01-01T00:00:00+00:00", 9223372036854775808], "f": "%s"}',
    ):
        with pytest.raises(ProblemError) as exc:
            decode_cursor(_signed(payload.replace(b"%s", digest.encode())), filters, "s", shape=(datetime, int))
        assert (exc.value.status, exc.value.errors[0].parameter) == (400, "cursor"), payload


@pytest.mark.parametrize("sort", [",", " ", "+", "-", ",,,", " , + ,", "a,a", "a,-a", "nope"])
def test_a_sort_naming_no_field_or_one_twice_is_422_naming_sort(sort):
    with pytest.raises(ProblemError) as exc:
        parse_sort(sort, ("a", "b"), "-a")
    assert (exc.value.status, exc.value.errors[0].parameter) == (422, "sort")
    assert [(k.field, k.descending) for k in parse_sort(" b , -a", ("a", "b"), "-a")] == [("b", False), ("a", True)]
    assert [k.field for k in parse_sort(None, ("a", "b"), "-a")] == ["a"]


# -- emails and phones -------------------------------------------------------------------------------


def test_emails_are_nfkc_casefolded():
    nfc, nfd = (unicodedata.normalize(form, "José.Ñúñez@Example.COM") for form in ("NFC", "NFD"))
    assert nfc != nfd
    assert normalize_email(nfc) == normalize_email(nfd) == "josé.ñúñez@example.com"
    assert normalize_email("\uff21\uff2e\uff21@example.com") == "ana@example.com"  # full-width letters
    assert normalize_email("STRASSE@x.de") == normalize_email("straße@x.de")
    for bad in ("a@b", "a b@c.de", "a@b.c\u0000", "@example.com"):
        with pytest.raises(ValueError):
            normalize_email(bad)


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("+34 600 12 34 56", None, "+34600123456"),
        ("0034 (600) 12-34-56", None, "+34600123456"),
        ("+34 ⁶⁰⁰ ¹²³ ⁴⁵⁶", None, "+34600123456"),
        ("+\uff13\uff14\uff16\uff10\uff10\uff11\uff12\uff13\uff14\uff15\uff16", None, "+34600123456"),
        ("+\u0663\u0664\u0666\u0660\u0660\u0661\u0662\u0663\u0664\u0665\u0666", None, "+34600123456"),
        ("600 123 456", "ES", "+34600123456"),
        ("030 1234567", "DE", "+49301234567"),
    ],
)
def test_phones_are_stored_in_e164(value, region, expected):
    assert normalize_phone(value, region) == expected


@pytest.mark.parametrize("value", ["12", "+3460", "600123456", "+1 000", "+34 600 12 34 56 78 90", "phone", ""])
def test_phones_that_are_not_numbers_are_refused(value):
    with pytest.raises(ValueError, match="international form"):
        normalize_phone(value)


# -- every service's API uses the shared rules -------------------------------------------------------


def _service_apps() -> Iterator[tuple[str, Any]]:
    from crm_customer.config import Settings as CustomerSettings
    from crm_customer.main import create_app as customer_app
    from crm_scoring.config import Settings as ScoringSettings
    from crm_scoring.main import create_app as scoring_app

    url = "postgresql+asyncpg://nobody@127.0.0.1/none"  # never opened: no lifespan runs
    yield "customer", customer_app(CustomerSettings(database_url=url, environment="test"))
    yield "scoring", scoring_app(ScoringSettings(database_url=url, environment="test"))


def _date_leaves(annotation: Any, where: str, seen: frozenset[type] = frozenset()) -> Iterator[tuple[str, Any, tuple]]:
    """(where, date or datetime, Annotated metadata) for every date/time a parameter or body field holds."""
    metadata: tuple = ()
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata += tuple(extra)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in seen:
            for name, field in annotation.model_fields.items():
                yield from _date_leaves(_annotated(field), f"{where}.{name}", seen | {annotation})
        return
    if annotation in (datetime, date):
        yield where, annotation, metadata
        return
    for arg in typing.get_args(annotation):
        yield from _date_leaves(arg, where, seen)


def _annotated(field: Any) -> Any:
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def test_every_date_input_of_every_service_takes_the_shared_range():
    checked = {bounds._instant, bounds._day}
    found, unbounded = 0, []
    for service, app in _service_apps():
        routes = [r for ir in app.router.routes for r in getattr(getattr(ir, "original_router", None), "routes", [])]
        for route in [r for r in routes if isinstance(r, APIRoute) and r.path.startswith("/api/")]:
            todo, params = [route.dependant], []
            while todo:
                dependant = todo.pop()
                todo += dependant.dependencies
                params += [*dependant.query_params, *dependant.path_params, *dependant.body_params]
            for param in params:
                for where, _, metadata in _date_leaves(_annotated(param.field_info), param.name):
                    found += 1
                    if not any(getattr(m, "func", None) in checked for m in metadata):
                        unbounded.append(f"{service} {sorted(route.methods)} {route.path} {where}")
    assert found > 20
    assert unbounded == []
