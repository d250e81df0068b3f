"""The console's pages served by its own process against the running suite: each shows what the API returns
for the signed-in role (figures, masking, refusals), API errors in words, sign-in and CSRF enforced."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx

from crm_console.render import money, number, percent
from tests.console.conftest import Suite, api_headers, idem


async def api(suite: Suite, path: str, role: str = "admin", **params: object) -> dict:
    async with httpx.AsyncClient(base_url=suite.stack.url, timeout=30) as http:
        r = await http.get(path, params=params, headers=api_headers(role))
        assert r.status_code == 200, r.text
        return r.json()


def field(html: str, name: str, attr: str = "data-field") -> str:
    found = re.search(rf'{attr}="{name}"[^>]*>(.*?)</', html, re.S)
    assert found, f"{attr}={name} not on the page"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


async def test_pages_need_a_signed_in_user(suite: Suite):
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        r = await http.get("/churn?granularity=quarter")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Fchurn%3Fgranularity%3Dquarter"
        fragment = await http.get("/customers", headers={"HX-Request": "true"})
        assert fragment.headers["HX-Redirect"].startswith("/login?next=")
        login = await http.get("/login")
        assert login.status_code == 200
        assert 'value="agent"' in login.text  # the development sign-in offers the roles
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie


async def test_a_post_without_the_sessions_csrf_token_is_refused(suite: Suite, as_role):
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        r = await http.post("/login/dev", data={"role": "admin", "next": "/"})
        assert r.status_code == 403
        assert "session" not in (await http.get("/")).headers.get("location", "session")  # still signed out
    browser = await as_role("marketer")
    r = await browser.http.post(
        "/campaigns/segments/preview", data={"field_0": "stage", "op_0": "eq", "value_0": "growth"}
    )
    assert r.status_code == 403
    r = await browser.http.post("/logout", data={"csrf_token": "forged"})
    assert r.status_code == 403


async def test_overview_figures_are_the_apis(suite: Suite, as_role):
    browser = await as_role("analyst")
    page = await browser.http.get("/")
    assert page.status_code == 200, page.text
    lifecycle = await api(suite, "/api/v1/scores/distributions/lifecycle", "analyst")
    abc = await api(suite, "/api/v1/scores/distributions/abc", "analyst")
    churned = next(s["count"] for s in lifecycle["stages"] if s["stage"] == "churned")
    assert field(page.text, "customers", "data-kpi") == number(lifecycle["total"])
    assert field(page.text, "active", "data-kpi") == number(lifecycle["total"] - churned)
    assert field(page.text, "gold", "data-kpi") == number(sum(c["gold"] for c in abc["classes"]))
    profit = await api(suite, "/api/v1/churn/reports/profit-lost", "analyst")
    assert field(page.text, "profit-lost", "data-kpi") == money(profit["total"]["profit_lost"])
    watch = await api(suite, "/api/v1/churn/watchlist/summary", "analyst")  # the whole list's total
    assert field(page.text, "value-at-risk", "data-kpi") == money(watch["value_at_risk"])
    # every stage of the funnel links to its customers, every class to its own
    for stage in lifecycle["stages"]:
        assert f'href="/customers?stage={stage["stage"]}"' in page.text
    assert 'href="/customers?abc_class=A"' in page.text
    assert page.text.count("<canvas") == 4


async def test_customer_360_shows_scores_and_masks_contacts_as_the_api_does(suite: Suite, as_role):
    customer_id = suite.customers["C-5"]
    scores = await api(suite, f"/api/v1/scores/customers/{customer_id}", "analyst")
    analyst = await as_role("analyst")  # no pii:read: the API masks contacts
    page = await analyst.http.get(f"/customers/{customer_id}")
    assert page.status_code == 200, page.text
    assert scores["lifecycle"]["stage"] in field(page.text, "stage")
    assert field(page.text, "composite") == number(scores["composite"]["score"])
    clv = scores["clv"] or {}  # null before the first calibration
    assert field(page.text, "clv") == money(clv.get("clv"))
    assert field(page.text, "p-alive") == percent(clv.get("p_alive"))
    masked = (await api(suite, f"/api/v1/customers/{customer_id}", "analyst"))["email"]
    assert masked != "ana5@example.com"
    assert "ana5@example.com" not in page.text
    if masked:
        assert masked in page.text
    agent = await as_role("agent")  # pii:read: the address in full
    assert "ana5@example.com" in (await agent.http.get(f"/customers/{customer_id}")).text
    for text in ("ana5@example.com", "Ana5"):  # found by exact email, or by part of the name
        found = await agent.http.get("/customers", params={"q": text})
        assert f'href="/customers/{customer_id}"' in found.text
    for panel in ("Orders", "Lifecycle history", "Timeline", "Consent and contact preferences", "Complaints"):
        assert panel in page.text


async def test_a_panel_the_role_may_not_see_is_replaced_by_a_note(suite: Suite, as_role):
    agent = await as_role("agent")  # no campaigns:read nor segments:read
    page = await agent.http.get("/campaigns")
    assert page.status_code == 200
    assert "Your role may not see campaigns." in page.text
    assert "Come back" not in page.text
    marketer = await as_role("marketer")
    assert "Come back" in (await marketer.http.get("/campaigns")).text


async def test_churn_page_lists_the_declared_churn_and_shows_api_errors_in_words(suite: Suite, as_role):
    browser = await as_role("analyst")
    page = await browser.http.get("/churn", params={"granularity": "quarter"})
    assert page.status_code == 200, page.text
    assert f'href="/customers/{suite.churned_id}"' in page.text
    budget = await api(suite, "/api/v1/churn/reports/retention-budget", "analyst", saved_share="1")
    assert field(page.text, "budget-ceiling") == money(budget["budget_ceiling"])
    bad = await browser.http.get("/churn", params={"from": "2026-05-01", "to": "2026-01-01"})
    assert bad.status_code == 200
    assert "`from` must be before `to`" in bad.text  # the API's problem detail, in words


async def test_the_segment_builder_counts_live_and_the_campaign_result_shows_the_split(suite: Suite, as_role):
    marketer = await as_role("marketer")
    form = {"combine": "and", "field_0": "stage", "op_0": "in", "value_0": "introduction, growth, maturity, decline"}
    count = await marketer.http.post("/campaigns/segments/preview", data=form, headers={"X-CSRF-Token": marketer.csrf})
    assert count.status_code == 200, count.text
    async with httpx.AsyncClient(base_url=suite.stack.url, timeout=30) as http:
        rules = {"and": [{"field": "stage", "op": "in", "value": ["introduction", "growth", "maturity", "decline"]}]}
        r = await http.post("/api/v1/segments/preview", json={"rules": rules}, headers=api_headers("marketer"))
    assert field(count.text, "segment-count") == number(r.json()["count"])
    wrong = await marketer.http.post(
        "/campaigns/segments/preview",
        data={"field_0": "stage", "op_0": "gt", "value_0": "x"},
        headers={"X-CSRF-Token": marketer.csrf},
    )
    assert 'class="problem"' in wrong.text  # the API's 422, named
    page = await marketer.http.get(f"/campaigns/{suite.campaign_id}")
    assert page.status_code == 200, page.text
    result = await api(suite, f"/api/v1/campaigns/{suite.campaign_id}/results", "marketer")
    for group in result["groups"]:
        assert field(page.text, f"converters-{group['group']}") == number(group["converters"])
    assert "Sample ratio" in page.text or "Sample-ratio warning" in page.text


async def test_complaints_and_winback_pages_render_their_reports(suite: Suite, as_role):
    admin = await as_role("admin")
    complaints = await admin.http.get("/complaints")
    assert complaints.status_code == 200, complaints.text
    assert "Late parcel" in complaints.text
    fcr = await api(suite, "/api/v1/complaints/reports/first-contact-resolution")
    assert field(complaints.text, "fcr") == percent(fcr["rate"])
    board = await admin.http.get("/winback")
    assert board.status_code == 200, board.text
    assert "Assessment" in board.text


async def test_a_winback_case_is_assigned_and_an_offer_over_the_guard_is_refused_in_words(suite: Suite, as_role):
    cases = await api(suite, "/api/v1/churn/winback/cases", customer_id=suite.churned_id)
    assert cases["items"], "the declared churn opens a win-back case"
    case = cases["items"][0]
    if case["status"] == "excluded":  # a small customer, under the rules' minimum value: pursued by hand
        async with httpx.AsyncClient(base_url=suite.stack.url, timeout=30) as http:
            r = await http.post(
                f"/api/v1/churn/winback/cases/{case['id']}/include",
                json={"note": "key account"},
                headers=idem(api_headers("admin")),
            )
            assert r.status_code == 200, r.text
            case = r.json()
    admin = await as_role("admin")  # offers are confidential: offers:read
    board = await admin.http.get("/winback")
    assert f'href="/winback/cases/{case["id"]}"' in board.text
    page = await admin.http.get(f"/winback/cases/{case['id']}")
    assert page.status_code == 200, page.text
    assert "Recommendation" in page.text
    if case["status"] == "analysis":
        form = {"owner": "ana.agent", "version": str(case["version"]), "csrf_token": admin.csrf}
        assigned = await admin.http.post(f"/winback/cases/{case['id']}/assign", data=form)
        assert assigned.status_code == 303, assigned.text
    case = await api(suite, f"/api/v1/churn/winback/cases/{case['id']}")
    assert case["owner"] == "ana.agent", case
    offer = {"value": "999999.00", "version": str(case["version"]), "csrf_token": admin.csrf}
    refused = await admin.http.post(f"/winback/cases/{case['id']}/offers", data=offer)
    assert refused.status_code == 422
    assert "Not done." in refused.text
    assert (await api(suite, f"/api/v1/churn/winback/cases/{case['id']}"))["version"] == case["version"]  # unchanged
    stale = await admin.http.post(
        f"/winback/cases/{case['id']}/offers", data={**offer, "value": "1.00", "version": "1"}
    )
    assert stale.status_code == 412  # the form was built from an older version: If-Match refused


async def test_a_marketer_saves_a_segment_sets_up_a_campaign_with_a_control_share_and_launches_it(
    suite: Suite, as_role
):
    marketer = await as_role("marketer")
    form = {"csrf_token": marketer.csrf, "name": "Growing", "combine": "and", "mode": "dynamic"}
    form |= {"field_0": "stage", "op_0": "in", "value_0": "growth, maturity"}
    saved = await marketer.http.post("/campaigns/segments", data=form)
    assert saved.status_code == 303, saved.text
    segment_id = saved.headers["location"].split("segment=")[1].split("#")[0]
    setup = await marketer.http.get(saved.headers["location"])
    assert f'<option value="{segment_id}" selected>Growing</option>' in setup.text
    segment = await api(suite, f"/api/v1/segments/{segment_id}", "marketer")
    assert segment["rules"] == {"and": [{"field": "stage", "op": "in", "value": ["growth", "maturity"]}]}
    campaign = {"csrf_token": marketer.csrf, "name": "Spring", "objective": "retention", "segment_id": segment_id}
    campaign |= {
        "channel": "email",
        "subject": "Hi",
        "template": "Dear {{ customer.first_name }}",
        "control_share": "0.25",
    }
    created = await marketer.http.post("/campaigns", data=campaign)
    assert created.status_code == 303, created.text
    campaign_id = created.headers["location"].rsplit("/", 1)[1]
    assert Decimal((await api(suite, f"/api/v1/campaigns/{campaign_id}", "marketer"))["control_share"]) == Decimal(
        "0.25"
    )
    launched = await marketer.http.post(f"/campaigns/{campaign_id}/launch", data={"csrf_token": marketer.csrf})
    assert launched.status_code == 303, launched.text
    assert (await api(suite, f"/api/v1/campaigns/{campaign_id}", "marketer"))["status"] == "launched"
    twice = await marketer.http.post(f"/campaigns/{campaign_id}/launch", data={"csrf_token": marketer.csrf})
    assert twice.status_code == 409  # the API's refusal, passed on with its words
    assert "The campaign was not launched" in twice.text
    bad = await marketer.http.post("/campaigns", data={**campaign, "control_share": "0.95"})
    assert bad.status_code == 422
    assert "control_share" in bad.text  # the field the API names
