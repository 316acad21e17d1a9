"""The dashboard in a real browser, against a live server whose sandbox calls finish in a second."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from conftest import LiveServer  # noqa: E402  (tests/conftest.py)

SANDBOX_HUMAN = "+12025550100"  # answers; says "Hello?", "Yes, that works for me.", "Thank you, goodbye."


def place_call(server: LiveServer, phone_number: str, api_key: str | None = None) -> str:
    with server.client(api_key) as client:
        response = client.post("/call", json={
            "phone_number": phone_number, "force_now": True,
            "assistant": {"prompt": "Confirm the appointment.", "first_sentence": "Hi, it's the clinic."},
        })  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()["call"]["id"]


def test_sign_in_create_assistant_test_call_and_read_it(page: Page, dashboard: LiveServer, screenshot) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to openrevox")).to_be_visible()
    page.get_by_label("API key").fill("sk_not_a_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Unknown API key")
    page.get_by_label("API key").fill(dashboard.api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Calls")).to_be_visible()

    page.get_by_role("link", name="Assistants").click()
    page.get_by_role("link", name="New assistant").click()
    page.get_by_label("Name", exact=True).fill("Appointment reminder")
    page.get_by_label("Prompt").fill("Remind {{name}} of their appointment on Tuesday.")
    page.get_by_label("Voice id").fill("sandbox-en-amy")
    page.get_by_label("Voice provider").select_option("cartesia")
    page.get_by_label("Voice speed").fill("3")
    page.get_by_label("Transfer phone number").fill("0612345678")
    page.get_by_label("Field 1 name").fill("confirmed")
    page.get_by_label("Field 1 type").select_option("boolean")
    page.get_by_role("button", name="Create assistant").click()
    # The API's own messages, each beside its input.
    expect(page.locator("#voice-error")).to_have_text("speed 3.0 is out of range for cartesia: 0.6–1.5")
    expect(page.locator("#transfer_phone_number-error")).to_contain_text("'0612345678' is not in E.164 format")
    expect(page.get_by_label("Transfer phone number")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Prompt")).to_have_value("Remind {{name}} of their appointment on Tuesday.")
    screenshot(page, "assistant-form")
    page.get_by_label("Voice speed").fill("1.1")
    page.get_by_label("Transfer phone number").fill("+33612345678")
    page.get_by_role("button", name="Create assistant").click()
    expect(page.get_by_role("status")).to_have_text("Assistant 'Appointment reminder' created")
    expect(page.get_by_label("Voice speed")).to_have_value("1.1")
    expect(page.get_by_label("Field 1 name")).to_have_value("confirmed")

    page.get_by_role("link", name="Test call").click()
    expect(page.get_by_label("Phone number")).to_have_value(SANDBOX_HUMAN)
    page.get_by_label("{{name}}").fill("Ada")
    page.get_by_role("button", name="Call now").click()
    expect(page.get_by_role("heading", name=f"Call to {SANDBOX_HUMAN}")).to_be_visible()
    # No reload: the page polls while the call runs.
    expect(page.locator("#call-status")).to_have_text("completed", timeout=20_000)
    expect(page.locator(".attempt .badge").filter(has_text="human")).to_be_visible()
    # The transcript streamed in as a conversation, and the recording plays.
    transcript = page.get_by_role("list", name="Transcript of attempt 1")
    expect(transcript.locator(".user").filter(has_text="Yes, that works for me.")).to_be_visible()
    expect(transcript.locator(".assistant").first).to_be_visible()
    audio = page.locator("audio")
    expect(audio).to_have_attribute("src", re.compile(r"/recordings/.+\.wav\?expires=\d+&signature="))
    played = audio.evaluate(
        """async (audio) => {
            await audio.play();
            for (let waited = 0; audio.currentTime === 0 && waited < 5000; waited += 50) {
                await new Promise((done) => setTimeout(done, 50));
            }
            return {position: audio.currentTime, duration: audio.duration};
        }"""
    )
    assert played["position"] > 0 and played["duration"] > 1, f"the recording should play: {played}"
    screenshot(page, "call")

    # The call is in the list; another organization's call is not found from this session.
    page.get_by_role("link", name="← Calls").click()
    expect(page.locator("tr[data-href]").first).to_contain_text(SANDBOX_HUMAN)
    other = place_call(dashboard, SANDBOX_HUMAN, dashboard.other_api_key)
    response = page.goto(f"/dashboard/calls/{other}")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text(f"No call with id '{other}'")).to_be_visible()


def test_call_list_updates_live_and_opens_rows_from_the_keyboard(signed_in: Page, dashboard: LiveServer) -> None:
    page = signed_in
    # New calls appear, and their status changes, without a reload.
    first = place_call(dashboard, "+12025550101")  # voicemail
    rows = page.locator("tr[data-href]")
    expect(rows.first).to_have_attribute("data-id", first, timeout=10_000)
    second = place_call(dashboard, "+12025550100")
    expect(rows.first).to_have_attribute("data-id", second, timeout=10_000)
    expect(rows.first.locator(".badge")).to_have_text("completed", timeout=20_000)
    expect(page.locator("#calls-count")).to_contain_text(f"{rows.count()} calls.")

    rows.first.focus()
    page.keyboard.press("ArrowDown")
    expect(rows.nth(1)).to_be_focused()
    expect(rows.nth(1)).to_have_attribute("data-id", first)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/dashboard/calls/{first}")
    expect(page.get_by_role("heading", name="Call to +12025550101")).to_be_visible()


def test_every_input_has_a_label(signed_in: Page) -> None:
    for path in ("/dashboard/calls", "/dashboard/assistants/new"):
        signed_in.goto(path)
        unlabeled = signed_in.evaluate(
            """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
                .filter((input) => input.labels.length === 0 && !input.getAttribute("aria-label"))
                .map((input) => input.name)"""
        )
        assert unlabeled == [], f"{path}: inputs without a label: {unlabeled}"


def test_campaign_page_charts_rows_by_status_and_downloads_the_export(signed_in: Page, dashboard: LiveServer, screenshot) -> None:
    page = signed_in
    # Four humans (0100), two numbers that do not exist (0105); called at any hour, never retried.
    numbers = ["+12025550100", "+12025550105", "+14155550100", "+14155550105", "+13125550100", "+16175550100"]
    any_hour = {"calling_windows": [{"calling_window_start_time": "00:00", "calling_window_end_time": "00:00",
                                     "retry_delay_seconds": 60}], "max_retry_attempts": 0}
    with dashboard.client() as client:
        assistant = client.post("/assistants", json={"name": "Recall", "prompt": "Hi."}).json()["assistant"]
        campaign = client.post("/campaigns", json={
            "assistant_id": assistant["id"], "name": "Spring recall", "max_concurrent_calls": 2, "call_retry_config": any_hour,
            "contacts": [{"to_phone_number": n, "prompt_variables": {}} for n in numbers],
        }).json()["campaign"]  # fmt: skip
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="Spring recall").click()
    # No reload: the chart and funnel follow the campaign until it completes.
    expect(page.locator("#campaign-status")).to_have_text("completed", timeout=20_000)
    chart = page.get_by_role("img", name=re.compile("Rows by status over time"))
    expect(chart).to_have_accessible_description(re.compile(r"^Now: 4 completed, 2 failed, 0 retry, 0 calling, 0 pending"))
    expect(chart.locator("rect.fill-calling").first).to_be_attached()  # its history: calls were running
    expect(page.locator(".funnel li").first).to_contain_text("Called")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename.startswith("spring-recall-")
    assert campaign["id"] in page.url
    screenshot(page, "campaign")
    page.get_by_role("link", name="Its calls").click()
    expect(page.locator("tr[data-href]")).to_have_count(len(numbers))
    expect(page.get_by_label("Campaign")).to_have_value(campaign["id"])
    screenshot(page, "calls")
