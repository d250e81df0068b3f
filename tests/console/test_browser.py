"""The console in a real browser (Playwright driving Debian's chromium) against the running suite: sign in,
push orders through the API, find the new customer with scores, open a churn report and a campaign result,
every page screenshot at 1,280 px (and the overview at phone width) and checked by axe-core."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crm_shared.testing import eventually
from tests.console.conftest import Suite, api_headers, idem
from tests.customer.helpers import order

playwright_api = pytest.importorskip("playwright.async_api", reason="Playwright is not installed")
axe_api = pytest.importorskip("axe_playwright_python.async_playwright", reason="axe-playwright-python is not installed")

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = (
    Path(os.environ.get("CRM_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")) / "console"
)
SERIOUS = ("serious", "critical")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (apt-get install -y chromium; `make test` installs it when it can)"
)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS.parent / ".gitignore").write_text("*\n")  # screenshots are artifacts, never committed
    async with playwright_api.async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield launched
        finally:
            await launched.close()


class Console:
    """The browser's errors: script exceptions and console errors (a CSP refusal, a missing file), except while
    axe-core runs (it styles elements to measure them, which the console's CSP refuses, as it should)."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.auditing = False
        page.on("pageerror", lambda exc: self.add(page, str(exc)))
        page.on("console", lambda msg: self.add(page, msg.text) if msg.type == "error" else None)

    def add(self, page: Any, text: str) -> None:
        if not self.auditing:
            self.errors.append(f"{page.url}: {text}")


async def check(page: Any, name: str, console: Console) -> None:
    """Screenshot the page and fail on any serious or critical accessibility violation."""
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    console.auditing = True
    try:
        results = await axe_api.Axe().run(page)
    finally:
        console.auditing = False
    serious = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
    assert not serious, f"{name}: " + "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in serious)


async def test_sign_in_see_a_new_customer_scored_and_open_churn_and_campaign_results(suite: Suite, browser: Any):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        await walk_through(suite, page)
    except Exception:
        await page.screenshot(path=str(ARTIFACTS / "failed.png"), full_page=True)  # where it stopped
        raise
    finally:
        await context.close()


async def walk_through(suite: Suite, page: Any) -> None:
    console = Console(page)
    page.set_default_timeout(15_000)

    await page.goto(suite.url + "/")
    assert "/login" in page.url
    await page.keyboard.press("Tab")  # the first stop is the skip link
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await check(page, "00-sign-in", console)
    await page.get_by_label("marketer").check()
    await page.get_by_label("admin").check()
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(suite.url + "/")
    await page.get_by_role("heading", name="Overview").wait_for()
    await page.wait_for_function("document.querySelectorAll('canvas[data-drawn]').length === 4")
    await check(page, "01-overview", console)

    # orders pushed through the API: a new customer appears with scores
    name = f"Zoe{uuid.uuid4().hex[:6]}"
    ref = f"B-{name}"
    async with httpx.AsyncClient(base_url=suite.stack.url, timeout=30) as http:
        now = datetime.now(UTC)
        for i, days in enumerate((90, 30)):
            body = order(f"SO-{name}-{i}", ref, ordered_at=(now - timedelta(days=days)).isoformat(),
                         customer={"external_id": ref, "first_name": name, "last_name": "Browser"})  # fmt: skip
            r = await http.post("/api/v1/orders", json=body, headers=idem(suite.stack.partner()))
            assert r.status_code == 201, r.text
        customer_id = r.json()["customer_id"]

        async def scored() -> bool | None:
            r = await http.get(f"/api/v1/scores/customers/{customer_id}", headers=api_headers("analyst"))
            return (r.status_code == 200 and r.json()["summary"]["order_count"] == 2) or None

        await eventually(scored, within=30)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    await page.get_by_label("Find by name, email or phone").fill(name)
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=f"{name} Browser").click()
    await page.get_by_role("heading", name=f"{name} Browser").wait_for()
    assert (await page.locator('[data-field="stage"]').inner_text()).startswith("growth")
    await check(page, "02-customer-360", console)

    # a churn report, reached with the keyboard alone
    for _ in range(12):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.textContent.trim()") == "Churn":
            break
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Churn rate per month").wait_for()
    await page.locator('select[name="granularity"]').select_option("quarter")
    await page.get_by_role("button", name="Apply").click()
    await page.get_by_role("heading", name="Churn rate per quarter").wait_for()
    await page.get_by_role("row").filter(has_text=suite.churned_id[:8]).first.wait_for()
    await check(page, "03-churn", console)

    # a campaign result
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    await page.get_by_role("link", name="Come back").click()
    await page.get_by_role("heading", name="Results").wait_for()
    assert await page.locator('[data-field^="converters-"]').count() >= 2  # treatment, control (and holdout)
    await check(page, "04-campaign-result", console)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    await page.locator('select[name="field_0"]').select_option("stage")
    await page.locator('select[name="op_0"]').select_option("in")
    await page.locator('input[name="value_0"]').fill("growth, maturity")
    await page.locator('input[name="value_0"]').press("Tab")
    await page.locator('[data-field="segment-count"]').wait_for()
    await check(page, "05-campaigns", console)

    for path, name in (("/winback", "06-winback"), ("/complaints", "07-complaints")):
        await page.goto(suite.url + path)
        await check(page, name, console)

    # a complaint resolved from the Complaints list through its form (the API's transition, If-Match)
    row = page.get_by_role("row").filter(has_text="Late parcel").first
    await row.locator("summary").click()
    resolve = row.locator("form").filter(has=page.locator('input[name="action"][value="resolve"]'))
    await resolve.get_by_label("Resolution").fill("re-sent by courier")
    await resolve.get_by_label("yes").check()
    await check(page, "09-complaint-form", console)
    await resolve.get_by_role("button", name="Resolve").click()
    status = page.get_by_role("row").filter(has_text="Late parcel").first.locator("[data-complaint-status]")
    await status.filter(has_text="resolved").wait_for()
    # the win-back case of the declared churn, with the moves its state allows
    async with httpx.AsyncClient(base_url=suite.stack.url, timeout=30) as http:
        cases = await http.get(
            "/api/v1/churn/winback/cases", params={"customer_id": suite.churned_id}, headers=api_headers("admin")
        )
    await page.goto(suite.url + f"/winback/cases/{cases.json()['items'][0]['id']}")
    await page.get_by_role("heading", name="Recommendation").wait_for()
    await check(page, "10-winback-case", console)

    await page.set_viewport_size({"width": 390, "height": 844})  # a phone: no page scrolls sideways
    for path in ("/churn", "/customers", "/campaigns", "/complaints", "/winback", "/"):
        await page.goto(suite.url + path)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways on a phone ({width} px)"
    await check(page, "08-overview-phone", console)
    assert not console.errors, console.errors
