"""The console's writes beyond the first pass, each a CSRF-checked form posting through the gateway with the
signed-in user's token: the whole win-back workflow of a case, complaint moves and consents; forms shown only
to roles the API lets through, refusals in words; and the overview's and churn page's watchlist totals from
the churn API's summary (the whole list, not a page of it)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from crm_console.render import money, number
from tests.console.conftest import Suite, api_headers, idem
from tests.console.test_pages import api, field


async def api_write(suite: Suite, method: str, path: str, body: Any, role: str = "admin") -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=suite.stack.url, timeout=30) as http:
        r = await http.request(method, path, json=body, headers=idem(api_headers(role)))
        assert r.status_code in (200, 201), r.text
        return r.json()


async def test_overview_and_churn_page_show_the_whole_watchlist(suite: Suite, as_role):
    analyst = await as_role("analyst")
    page = await analyst.http.get("/")
    assert page.status_code == 200, page.text
    summary = await api(suite, "/api/v1/churn/watchlist/summary", "analyst")
    assert field(page.text, "value-at-risk", "data-kpi") == money(summary["value_at_risk"])
    assert field(page.text, "watch-count", "data-kpi") == number(summary["count"])
    churn = await analyst.http.get("/churn", params={"watch_signal": "silent"})
    silent = await api(suite, "/api/v1/churn/watchlist/summary", "analyst", signal="silent")
    assert field(churn.text, "watch-count") == number(silent["count"])
    assert field(churn.text, "watch-value") == money(silent["value_at_risk"])


async def case_page(browser: Any, case_id: str) -> str:
    page = await browser.http.get(f"/winback/cases/{case_id}")
    assert page.status_code == 200, page.text
    return page.text


async def test_a_case_walks_the_whole_winback_workflow_through_the_forms(suite: Suite, as_role):
    customer = suite.customers["C-7"]
    await api_write(suite, "POST", "/api/v1/churn/records", {"customer_id": customer, "reasons": ["forced"]})
    [case] = (await api(suite, "/api/v1/churn/winback/cases", customer_id=customer))["items"]
    assert case["status"] == "excluded"  # forced: a reason the rules do not pursue
    analyst = await as_role("analyst")  # churn:read only: the case, no form
    text = await case_page(analyst, case["id"])
    assert "Your role may not change win-back cases." in text
    assert "/include" not in text
    admin = await as_role("admin")
    cid = case["id"]

    async def send(action: str, **form: str) -> httpx.Response:
        version = str((await api(suite, f"/api/v1/churn/winback/cases/{cid}"))["version"])
        return await admin.http.post(
            f"/winback/cases/{cid}/{action}", data={"csrf_token": admin.csrf, "version": version, **form}
        )

    assert f'action="/winback/cases/{cid}/include"' in await case_page(admin, cid)
    assert (await send("include", note="a key account after all")).status_code == 303
    assert (await api(suite, f"/api/v1/churn/winback/cases/{cid}"))["status"] == "analysis"
    text = await case_page(admin, cid)
    for action in ("assign", "exclude", "reassess", "close"):  # what analysis allows
        assert f'action="/winback/cases/{cid}/{action}"' in text
    assert (await send("exclude", reason="moved abroad")).status_code == 303
    assert (await api(suite, f"/api/v1/churn/winback/cases/{cid}"))["status"] == "excluded"
    assert (await send("reassess")).status_code == 303  # the rules again: still excluded (forced)
    assert (await send("include")).status_code == 303
    assert (await send("assign", owner="bo.agent")).status_code == 303
    contact = await send("actions", kind="personal_conversation", cost="12.50", note="called, will think")
    assert contact.status_code == 303, contact.text
    detail = await api(suite, f"/api/v1/churn/winback/cases/{cid}")
    assert detail["status"] == "implementation"
    assert [a["kind"] for a in detail["actions"]][-1] == "personal_conversation"
    assert "called, will think" in await case_page(admin, cid)
    bad = await send("actions", kind="carrier_pigeon")
    assert bad.status_code == 422
    assert "Not done." in bad.text
    assert "#/kind" in bad.text  # the API's refusal, naming the field
    stale = await admin.http.post(
        f"/winback/cases/{cid}/close", data={"csrf_token": admin.csrf, "version": "1", "note": "x"}
    )
    assert stale.status_code == 412
    assert (await send("close", note="no answer")).status_code == 303
    closed = await api(suite, f"/api/v1/churn/winback/cases/{cid}")
    assert closed["status"] == "lost"
    text = await case_page(admin, cid)
    assert not re.search(rf'action="/winback/cases/{cid}/\w+"', text)  # a closed case offers nothing
    no_such = await admin.http.post(f"/winback/cases/{cid}/teleport", data={"csrf_token": admin.csrf, "version": "1"})
    assert no_such.status_code == 404
    forged = await admin.http.post(f"/winback/cases/{cid}/close", data={"version": "1"})
    assert forged.status_code == 403


async def test_complaints_move_through_their_workflow_from_both_pages(suite: Suite, as_role):
    customer = suite.customers["C-2"]
    body = {"customer_id": customer, "category": "delivery", "severity": "low", "channel": "email", "subject": "Dent"}
    complaint = await api_write(suite, "POST", "/api/v1/complaints", body)
    number_ = complaint["number"]
    for role in ("analyst", "marketer"):  # complaints:read only: no form
        viewer = await as_role(role)
        page = await viewer.http.get(f"/customers/{customer}")
        assert f"Change #{number_}" not in page.text
        assert "/transitions" not in (await viewer.http.get("/complaints")).text
    agent = await as_role("agent")
    page = await agent.http.get(f"/customers/{customer}")
    assert f"Change #{number_}" in page.text
    url = f"/complaints/{complaint['id']}/transitions"
    form = {"csrf_token": agent.csrf, "back": f"/customers/{customer}#complaints"}
    started = await agent.http.post(url, data={**form, "action": "start", "version": str(complaint["version"])})
    assert started.status_code == 303, started.text
    assert started.headers["location"] == f"/customers/{customer}#complaints"
    now = await api(suite, f"/api/v1/complaints/{complaint['id']}")
    assert now["status"] == "in_progress"
    missing = await agent.http.post(url, data={**form, "action": "resolve", "version": str(now["version"])})
    assert missing.status_code == 422  # no resolution: the API names what is missing
    assert "#/resolution_note" in missing.text
    assert (await api(suite, f"/api/v1/complaints/{complaint['id']}"))["status"] == "in_progress"
    resolve = {"action": "resolve", "version": str(now["version"]), "resolution_note": "replaced"}
    resolved = await agent.http.post(url, data={**form, **resolve, "first_contact_resolution": "yes"})
    assert resolved.status_code == 303, resolved.text
    done = await api(suite, f"/api/v1/complaints/{complaint['id']}")
    assert (done["status"], done["first_contact_resolution"], done["resolution_note"]) == ("resolved", True, "replaced")
    listed = await agent.http.get("/complaints")
    assert re.search(rf'data-complaint-status="{number_}">resolved<', listed.text)
    back = {**form, "back": "https://evil.example/"}  # only a path of the console
    closed = await agent.http.post(url, data={**back, "action": "close", "version": str(done["version"])})
    assert closed.headers["location"] == "/"
    twice = await agent.http.post(url, data={**form, "action": "close", "version": str(done["version"] + 1)})
    assert twice.status_code == 409  # closed already: the API's refusal, in words
    assert "The complaint was not changed" in twice.text


async def test_consents_are_granted_and_withdrawn_per_channel(suite: Suite, as_role):
    customer = suite.customers["C-4"]
    for role in ("analyst", "marketer"):  # customers:read only
        viewer = await as_role(role)
        assert f'action="/customers/{customer}/consents/' not in (await viewer.http.get(f"/customers/{customer}")).text
    agent = await as_role("agent")
    page = await agent.http.get(f"/customers/{customer}")
    assert f'action="/customers/{customer}/consents/sms"' in page.text
    url = f"/customers/{customer}/consents/sms"
    granted = await agent.http.post(url, data={"csrf_token": agent.csrf, "status": "opted_in", "source": "phone call"})
    assert granted.status_code == 303, granted.text
    consents = {c["channel"]: c for c in (await api(suite, f"/api/v1/customers/{customer}/consents"))["consents"]}
    assert (consents["sms"]["status"], consents["sms"]["source"]) == ("opted_in", "phone call")
    page = await agent.http.get(f"/customers/{customer}")
    assert field(page.text, "sms", "data-consent") == "opted in"
    assert "Withdraw sms" in page.text
    withdrawn = await agent.http.post(url, data={"csrf_token": agent.csrf, "status": "opted_out", "source": "console"})
    assert withdrawn.status_code == 303
    consents = {c["channel"]: c for c in (await api(suite, f"/api/v1/customers/{customer}/consents"))["consents"]}
    assert consents["sms"]["status"] == "opted_out"
    bad = await agent.http.post(url, data={"csrf_token": agent.csrf, "status": "maybe", "source": "console"})
    assert bad.status_code == 422
    assert "status" in bad.text


async def test_campaign_forms_show_only_to_roles_that_may_write(suite: Suite, as_role):
    analyst = await as_role("analyst")  # reads segments and campaigns, writes neither
    page = await analyst.http.get("/campaigns")
    assert page.status_code == 200, page.text
    assert "Save segment" not in page.text
    assert "Create draft" not in page.text
    assert "Your role may not set up campaigns." in page.text
    assert 'name="field_0"' in page.text  # the builder still counts live (a read)
    marketer = await as_role("marketer")
    page = await marketer.http.get("/campaigns")
    assert "Save segment" in page.text
    assert "Create draft" in page.text
