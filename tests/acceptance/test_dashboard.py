"""The dashboard over HTTP against a live server: its session, CSRF, organization walls, filters,
actions and what the call and campaign pages show. The browser tests (tests/browser/) drive the
same pages in Chromium."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import re
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import httpx
import pytest

from assistant_fields import FULL_ASSISTANT
from conftest import BACKENDS, LiveServer, live_server
from openrevox.config import Settings
from openrevox.db.engine import create_engine
from openrevox.orders import store as orders_store

HUMAN, VOICEMAIL = "+12025550100", "+12025550101"
FAST = {"OPENREVOX_SANDBOX_SPEED": "10", "OPENREVOX_DISPATCH_INTERVAL": "0.05"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory) -> LiveServer:
    with live_server(request.param, tmp_path_factory.mktemp(f"dashboard-{request.param}"), FAST) as server:
        yield server


class Dashboard:
    """A browser's view over HTTP: a cookie jar, and forms posted with the page's CSRF token."""

    def __init__(self, server: LiveServer) -> None:
        self.http = httpx.Client(base_url=server.base_url, timeout=30)
        self.csrf = ""

    def get(self, path: str) -> httpx.Response:
        response = self.http.get(path)
        if found := CSRF.search(response.text):
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True) -> httpx.Response:
        return self.http.post(path, data={**(data or {}), **({"csrf_token": self.csrf} if csrf else {})})

    def sign_in(self, key: str) -> httpx.Response:
        self.get("/dashboard/sign-in")
        signed = self.post("/dashboard/sign-in", {"api_key": key, "next": "/dashboard/calls"})
        if signed.status_code == 303:
            self.get(signed.headers["location"])  # signing in starts a fresh session, with a new token
        return signed


@pytest.fixture
def dashboard(live: LiveServer) -> Dashboard:
    board = Dashboard(live)
    assert board.sign_in(live.api_key).status_code == 303
    return board


def place(server: LiveServer, phone_number: str, key: str | None = None, **fields) -> dict:
    body = {"phone_number": phone_number, "force_now": True, "assistant": {"prompt": "Confirm the appointment."}}
    with server.client(key) as client:
        response = client.post("/call", json={**body, **fields})
        assert response.status_code == 200, response.text
        return response.json()["call"]


def fetch(server: LiveServer, call_id: str) -> dict:
    with server.client() as client:
        return client.get(f"/call/{call_id}").json()["call"]


def wait_for(server: LiveServer, call_id: str, done, timeout: float = 20) -> dict:  # noqa: ANN001
    """The call once `done(call)` holds."""
    deadline = time.monotonic() + timeout
    while not done(call := fetch(server, call_id)):
        assert time.monotonic() < deadline, f"call {call['status']}: not there after {timeout} s"
        time.sleep(0.1)
    return call


def wait_status(server: LiveServer, call_id: str, status: str) -> dict:
    return wait_for(server, call_id, lambda call: call["status"] == status)


class FormValues(HTMLParser):
    """What a browser would send for the page's form with the given action, as the page fills it."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.values = action, False, {}
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif not self.inside:
            return
        elif tag == "input" and (a.get("type") != "checkbox" or "checked" in a):
            self.values[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self.select = a["name"]
            self.values[self.select] = ""
        elif tag == "option" and self.select and "selected" in a:
            self.values[self.select] = a.get("value") or ""
        elif tag == "textarea":
            self.textarea = a["name"]
            self.values[self.textarea] = ""

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.values[self.textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def form_values(page: str, action: str) -> dict[str, str]:
    parser = FormValues(action)
    parser.feed(page)
    return parser.values


def row_ids(page: httpx.Response) -> list[str]:
    return re.findall(r'<tr tabindex="0" data-href="[^"]+" data-id="([^"]+)"', page.text)


def test_sign_in_keeps_a_signed_httponly_lax_cookie_without_the_key(live: LiveServer) -> None:
    board = Dashboard(live)
    page = board.get("/dashboard/calls")
    assert page.status_code == 303 and page.headers["location"] == "/dashboard/sign-in?next=/dashboard/calls"
    assert board.sign_in("sk_wrong").status_code == 401
    signed = board.sign_in(live.api_key)
    assert signed.status_code == 303 and signed.headers["location"] == "/dashboard/calls"
    cookie = signed.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "path=/dashboard" in cookie.lower()
    assert "secure" not in cookie.lower()  # served over http here; https_only with an https OPENREVOX_PUBLIC_URL
    payload = board.http.cookies["openrevox_session"].split(".")[0]
    assert live.api_key not in base64.b64decode(payload + "==").decode()
    assert board.get("/dashboard/calls").status_code == 200
    # A forged cookie is no session.
    board.http.cookies.set("openrevox_session", payload + ".forged", path="/dashboard")
    assert board.get("/dashboard/calls").status_code == 303


def test_posts_need_the_sessions_csrf_token(live: LiveServer, dashboard: Dashboard) -> None:
    call = place(live, HUMAN, scheduled_at=(datetime.now(UTC) + timedelta(days=3)).isoformat(), force_now=False)
    refused = dashboard.post(f"/dashboard/calls/{call['id']}/cancel", csrf=False)
    assert refused.status_code == 403 and "Form refused" in refused.text
    assert dashboard.http.post(f"/dashboard/calls/{call['id']}/cancel", data={"csrf_token": "guess"}).status_code == 403
    with httpx.Client(base_url=live.base_url) as fresh:  # signed in, no page shown since: no token yet
        token = CSRF.search(fresh.get("/dashboard/sign-in").text).group(1)
        assert fresh.post("/dashboard/sign-in", data={"api_key": live.api_key, "csrf_token": token}).status_code == 303
        assert fresh.post(f"/dashboard/calls/{call['id']}/cancel", data={"csrf_token": ""}).status_code == 403
    assert fetch(live, call["id"])["status"] == "scheduled"
    assert dashboard.post(f"/dashboard/calls/{call['id']}/cancel").status_code == 303
    assert fetch(live, call["id"])["status"] == "cancelled"
    dashboard.get("/dashboard/calls")
    assert dashboard.post("/dashboard/sign-out").status_code == 303
    assert dashboard.get("/dashboard/calls").status_code == 303


def test_another_organizations_call_assistant_and_campaign_are_not_found(live: LiveServer, dashboard: Dashboard) -> None:
    call = place(live, HUMAN, live.other_api_key)
    with live.client(live.other_api_key) as other:
        assistant = other.post("/assistants", json={"name": "Theirs", "prompt": "Hi."}).json()["assistant"]
        campaign = other.post("/campaigns", json={
            "assistant_id": assistant["id"], "name": "Theirs", "contacts": [{"to_phone_number": HUMAN, "prompt_variables": {}}],
        }).json()["campaign"]  # fmt: skip
    for path in (f"/dashboard/calls/{call['id']}", f"/dashboard/assistants/{assistant['id']}",
                 f"/dashboard/campaigns/{campaign['id']}", f"/dashboard/campaigns/{campaign['id']}/export.csv"):  # fmt: skip
        page = dashboard.get(path)
        assert page.status_code == 404 and "<h1>Not found</h1>" in page.text, path
    assert dashboard.post(f"/dashboard/calls/{call['id']}/cancel").status_code == 404
    with live.client(live.other_api_key) as other:
        assert other.get(f"/call/{call['id']}").json()["call"]["status"] != "cancelled"


def test_filters_by_status_result_assistant_phone_and_date(live: LiveServer, dashboard: Dashboard) -> None:
    with live.client() as client:
        assistant = client.post("/assistants", json={"name": "Filtered", "prompt": "Hi."}).json()["assistant"]
    human = place(live, "+33612340100")
    voicemail = place(live, "+33612340101", assistant=None, assistant_id=assistant["id"])
    later = place(live, "+33612340100", scheduled_at=(datetime.now(UTC) + timedelta(days=3)).isoformat(), force_now=False)
    wait_status(live, human["id"], "completed")
    wait_for(live, voicemail["id"], lambda call: (call["last_call_attempt"] or {}).get("result") == "voicemail")
    ours = {human["id"], voicemail["id"], later["id"]}

    def shown(query: str) -> set[str]:
        page = dashboard.get(f"/dashboard/calls?{query}")
        assert page.status_code == 200
        return set(row_ids(page)) & ours

    assert shown("phone=%2B3361234") == ours
    assert shown("phone=%2B3361234&status=completed") == {human["id"]}
    assert shown("phone=%2B3361234&status=scheduled") == {later["id"], voicemail["id"]}  # voicemail: retried later
    assert shown("phone=%2B3361234&result=human") == {human["id"]}
    assert shown("phone=%2B3361234&result=voicemail") == {voicemail["id"]}
    assert shown(f"assistant={assistant['id']}") == {voicemail["id"]}
    today = datetime.now(UTC).date()
    assert shown(f"phone=%2B3361234&date={today}") == ours
    assert shown(f"phone=%2B3361234&date={today - timedelta(days=1)}") == set()
    assert shown("status=not-a-status") == set()  # a hand-made URL: nothing, not an error


def test_pause_resume_and_cancel_go_through_the_services(live: LiveServer, dashboard: Dashboard) -> None:
    call = place(live, HUMAN, scheduled_at=(datetime.now(UTC) + timedelta(days=3)).isoformat(), force_now=False)
    page = f"/dashboard/calls/{call['id']}"
    assert 'Pause</button>' in dashboard.get(page).text
    dashboard.post(f"{page}/pause")
    assert fetch(live, call["id"])["status"] == "paused"
    assert "Call paused" in dashboard.get(page).text and "Resume</button>" in dashboard.get(page).text
    dashboard.post(f"{page}/resume")
    assert fetch(live, call["id"])["status"] == "scheduled"
    dashboard.post(f"{page}/cancel")
    assert fetch(live, call["id"])["status"] == "cancelled"
    dashboard.get(page)
    dashboard.post(f"{page}/cancel")  # refused by the service, said on the page
    assert "The call is already cancelled; it cannot be cancelled" in dashboard.get(page).text


def test_call_page_shows_transcript_tool_calls_structured_output_and_webhooks(live: LiveServer, dashboard: Dashboard) -> None:
    call = place(live, HUMAN, assistant={"prompt": "Book a visit.", "webhook_url": "https://hooks.openrevox.invalid/in"})
    attempt_id = wait_status(live, call["id"], "completed")["last_call_attempt"]["id"]

    async def write() -> None:
        engine = create_engine(Settings(database_url=live.database_url).resolved_database_url, 1)
        async with engine.begin() as conn:
            await orders_store.append_transcript(conn, attempt_id, [
                {"role": "tool", "content": "Tuesday is full", "tool_name": "book_visit",
                 "tool_arguments": {"day": "Tuesday", "time": "10:00"}, "tool_is_error": True},
            ])  # fmt: skip
            await orders_store.set_structured_output(conn, attempt_id, {"visit_day": "Wednesday", "confirmed": True})
        await engine.dispose()

    asyncio.run(write())
    page = dashboard.get(f"/dashboard/calls/{call['id']}").text
    tool = re.search(r'<li class="tool tool-error">(.*?)</li>', page, re.S).group(1)
    assert "<code>book_visit</code>" in tool and "error</span>" in tool and "Tuesday is full" in tool
    assert json.loads(re.search(r'<code class="args">(.*?)</code>', tool).group(1).replace("&#34;", '"')) == {
        "day": "Tuesday", "time": "10:00"}  # fmt: skip
    assert re.search(r'<th scope="row">visit_day</th><td>Wednesday</td>', page)
    assert re.search(r'<th scope="row">confirmed</th><td>true</td>', page)
    assert "call.completed" in page and "https://hooks.openrevox.invalid/in" in page
    assert re.search(r'class="badge delivery-(pending|failed)"', page)


def test_assistant_forms_create_edit_clone_delete_and_test_call(live: LiveServer, dashboard: Dashboard) -> None:
    dashboard.get("/dashboard/assistants/new")
    refused = dashboard.post("/dashboard/assistants/new", {"name": "", "prompt": "Hi {{who}}."})
    assert refused.status_code == 422 and 'id="name-error">String should have at least 1 character' in refused.text
    created = dashboard.post("/dashboard/assistants/new", {"name": "Front desk", "prompt": "Hi {{who}}.", "voicemail_message": "Call us back."})
    assistant_id = created.headers["location"].rsplit("/", 1)[1]
    page = dashboard.get(f"/dashboard/assistants/{assistant_id}")
    assert "Assistant &#39;Front desk&#39; created" in page.text
    edited = dashboard.post(f"/dashboard/assistants/{assistant_id}", {
        "name": "Front desk", "prompt": "Hi {{who}}.", "first_sentence_mode": "static", "first_sentence": "Hello!",
        "faq_items.0.question": "Open?", "faq_items.0.answer": "Yes.",
    })  # fmt: skip
    assert edited.status_code == 303
    with live.client() as client:
        stored = client.get(f"/assistants/{assistant_id}").json()
    assert (stored["first_sentence_mode"], stored["first_sentence"], stored["voicemail_message"]) == ("static", "Hello!", None)
    assert [(f["question"], f["answer"]) for f in stored["faq_items"]] == [("Open?", "Yes.")]

    clone = dashboard.post(f"/dashboard/assistants/{assistant_id}/clone")
    assert "Cloned as &#39;Front desk (copy)&#39;" in dashboard.get(clone.headers["location"]).text

    # "Add a FAQ item" brings the form back with one more row and saves nothing; then both save.
    page = f"/dashboard/assistants/{assistant_id}"
    form = {"name": "Front desk", "prompt": "Hi {{who}}.", "faq_items.0.question": "Open?", "faq_items.0.answer": "Yes.",
            "rows.faq_items": "2", "faq_items.1.question": "Parking?", "faq_items.1.answer": "Behind."}  # fmt: skip
    more = dashboard.post(page, {**form, "add_row": "faq_items"})
    assert more.status_code == 200 and 'name="faq_items.2.question"' in more.text and 'name="faq_items.3.question"' not in more.text
    assert 'value="Parking?"' in more.text
    with live.client() as client:
        assert len(client.get(f"/assistants/{assistant_id}").json()["faq_items"]) == 1  # nothing saved yet
        assert dashboard.post(page, {**form, "rows.faq_items": "3", "faq_items.2.question": "Dogs?", "faq_items.2.answer": "Welcome."}).status_code == 303
        saved = client.get(f"/assistants/{assistant_id}").json()["faq_items"]
    assert [f["question"] for f in saved] == ["Open?", "Parking?", "Dogs?"]

    copy_id = clone.headers["location"].rsplit("/", 1)[1]
    assert 'Delete</button>' in dashboard.get(f"/dashboard/assistants/{copy_id}").text
    gone = dashboard.post(f"/dashboard/assistants/{copy_id}/delete")
    assert gone.headers["location"] == "/dashboard/assistants"
    listing = dashboard.get("/dashboard/assistants").text
    assert "Deleted &#39;Front desk (copy)&#39;" in listing and f"/assistants/{copy_id}\"" not in listing
    with live.client() as client:
        assert client.get(f"/assistants/{copy_id}").status_code == 404

    test_page = dashboard.get(f"/dashboard/assistants/{assistant_id}/test-call").text
    assert f'value="{HUMAN}"' in test_page and 'name="prompt_variables.who"' in test_page
    bad = dashboard.post(f"/dashboard/assistants/{assistant_id}/test-call", {"phone_number": "12", "prompt_variables.who": "Ada"})
    assert bad.status_code == 422 and "is not in E.164 format" in bad.text
    placed = dashboard.post(f"/dashboard/assistants/{assistant_id}/test-call", {"phone_number": HUMAN, "prompt_variables.who": "Ada"})
    call = fetch(live, placed.headers["location"].rsplit("/", 1)[1])
    assert call["assistant"]["id"] == assistant_id and call["prompt_variables"] == {"who": "Ada"}


def unchanged(assistant: dict) -> dict:
    """What an edit must keep, with keys set to null and keys left out alike (an update, like the
    API's PATCH, stores nested objects without their unset keys)."""

    def given(value: object) -> object:
        if isinstance(value, dict):
            return {k: given(v) for k, v in value.items() if v is not None}
        return [given(v) for v in value] if isinstance(value, list) else value

    return given({k: v for k, v in assistant.items() if k not in ("updated_at", "faq_items")})


def test_every_assistant_field_round_trips_through_the_edit_form(live: LiveServer, dashboard: Dashboard) -> None:
    with live.client() as client:
        before = client.post("/assistants", json={**FULL_ASSISTANT, "webhook_url": "https://hooks.openrevox.invalid/a"}).json()["assistant"]
        path = f"/dashboard/assistants/{before['id']}"
        sent = form_values(dashboard.get(path).text, path)
        assert sent["voice.speed"] and sent["structured_output_config.1.name"] and sent["faq_items.1.answer"]
        assert dashboard.http.post(path, data=sent).status_code == 303
        after = client.get(f"/assistants/{before['id']}").json()
    assert unchanged(after) == unchanged(before)
    assert [(f["question"], f["answer"]) for f in after["faq_items"]] == [(f["question"], f["answer"]) for f in before["faq_items"]]


def test_campaign_page_charts_progress_and_exports_csv(live: LiveServer, dashboard: Dashboard) -> None:
    with live.client() as client:
        assistant = client.post("/assistants", json={"name": "Campaigner", "prompt": "Hi."}).json()["assistant"]
        contacts = [{"to_phone_number": n, "prompt_variables": {}} for n in ("+12025550100", "+12025550105", "+14155550100")]
        campaign = client.post("/campaigns", json={
            "assistant_id": assistant["id"], "name": "Spring recall", "contacts": contacts,
            "call_retry_config": {"calling_windows": [{"calling_window_start_time": "00:00",
                                  "calling_window_end_time": "00:00", "retry_delay_seconds": 1}], "max_retry_attempts": 0},
        }).json()["campaign"]  # fmt: skip
        deadline = time.monotonic() + 30
        while client.get(f"/campaigns/{campaign['id']}").json()["campaign"]["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert "Spring recall" in dashboard.get("/dashboard/campaigns").text
    page = dashboard.get(f"/dashboard/campaigns/{campaign['id']}").text
    assert "Now: 2 completed, 1 failed, 0 retry, 0 calling, 0 pending." in page
    assert len(re.findall(r'<rect [^>]*class="fill-', page)) >= 2
    funnel = dict(re.findall(r'<span class="label">([^<]+)</span>\s*<span class="bar"[^>]*></span>\s*<span class="count">(\d+)', page))
    assert (funnel["Called"], funnel["Reached a human"]) == ("3", "2")
    export = dashboard.get(f"/dashboard/campaigns/{campaign['id']}/export.csv")
    assert export.headers["content-type"].startswith("text/csv") and "attachment" in export.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["phone_number"] for r in rows] == [c["to_phone_number"] for c in contacts]


def test_campaign_pause_resume_and_cancel_go_through_the_services(live: LiveServer, dashboard: Dashboard) -> None:
    # Its one calling window is an hour from now: the rows wait, scheduled, while the buttons act.
    opens = (datetime.now(UTC) + timedelta(hours=1)).strftime("%H:%M")
    closes = (datetime.now(UTC) + timedelta(hours=1, minutes=30)).strftime("%H:%M")
    with live.client() as client:
        assistant = client.post("/assistants", json={"name": "Waiter", "prompt": "Hi."}).json()["assistant"]
        campaign = client.post("/campaigns", json={
            "assistant_id": assistant["id"], "name": "Later", "contacts": [{"to_phone_number": HUMAN, "prompt_variables": {}}],
            "call_retry_config": {"calling_windows": [{"calling_window_start_time": opens, "calling_window_end_time": closes,
                                  "retry_delay_seconds": 60}], "max_retry_attempts": 0, "timezone": "UTC"},
        }).json()["campaign"]  # fmt: skip

        def status() -> tuple[str, bool]:
            shown = client.get(f"/campaigns/{campaign['id']}").json()["campaign"]
            return shown["status"], shown["is_cancelled"]

        page = f"/dashboard/campaigns/{campaign['id']}"
        assert "Pause</button>" in dashboard.get(page).text
        dashboard.post(f"{page}/pause")
        assert status() == ("paused", False)
        paused = dashboard.get(page).text
        assert "Campaign paused" in paused and "Resume</button>" in paused and "Pause</button>" not in paused
        dashboard.post(f"{page}/resume")
        assert status() == ("running", False)
        dashboard.post(f"{page}/cancel")
        assert status()[1] is True
        cancelled = dashboard.get(page).text
        assert "Campaign cancelled" in cancelled and "</button>" not in cancelled.split("<h1>", 1)[1].split("</div>", 1)[0]
        dashboard.post(f"{page}/resume")  # refused by the service, said on the page
        assert "only a paused campaign can be resumed" in dashboard.get(page).text
        assert dashboard.post(f"{page}/explode").status_code == 404
