"""Webhooks end to end: a live `openrevox serve` posts `call.completed` to a real HTTP receiver on
127.0.0.1, signed (verified with the `standardwebhooks` library and the secret that
`openrevox webhooks secret` prints), retried, recorded, and kept across a SIGKILL.

The delivering servers run with OPENREVOX_ALLOW_PRIVATE_WEBHOOKS=1 (the receiver is on loopback)
and retries from 0.2 s; the refusal tests run against a server without it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from conftest import BACKENDS, LiveServer, database_url_for, drop_postgres_database, live_server, run_cli, start_server, stop_server
from polling import wait_for
from standardwebhooks import Webhook

NOT_ATTRIBUTED = "+12025550105"  # errored after one attempt, about 1 s at speed 10
HANGS_UP = "+12025550107"  # a human hangs up at once: completed
TALKS = "+12025550100"  # a short conversation, recorded
PUBLIC_URL = "https://calls.example.com"  # where links in payloads point (a proxy in front of us)
DELIVERING_ENV = {
    "OPENREVOX_PUBLIC_URL": PUBLIC_URL,
    "OPENREVOX_ALLOW_PRIVATE_WEBHOOKS": "1",
    "OPENREVOX_SANDBOX_SPEED": "10",
    "OPENREVOX_DISPATCH_INTERVAL": "0.05",
    "OPENREVOX_WEBHOOK_INTERVAL": "0.05",
    "OPENREVOX_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
}
ALL_DAY = {
    "calling_windows": [
        {"calling_window_start_time": "00:00", "calling_window_end_time": "00:00", "retry_delay_seconds": 1}
    ],
    "max_retry_attempts": 1,
}


# -- a receiver -----------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that answers each POST with the next planned status (then 200)."""

    plan: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    status, headers = receiver.plan.pop(0) if receiver.plan else (200, {})
                    receiver.requests.append(Received(dict(self.headers), body, time.monotonic(), status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                answer = b"ok" if status < 300 else b"x" * 5000  # longer than the kept excerpt
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/revox"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def for_call(self, call_id: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if json.loads(r.body)["call"]["id"] == call_id]


@pytest.fixture
def receiver():
    live = Receiver()
    live.start()
    yield live
    live.stop()


# -- servers --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def hook_server(backend, tmp_path_factory) -> LiveServer:
    with live_server(backend, tmp_path_factory.mktemp(f"webhooks-{backend}"), DELIVERING_ENV) as live:
        yield live


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory) -> LiveServer:
    """OPENREVOX_ALLOW_PRIVATE_WEBHOOKS unset: private targets are refused."""
    data_dir = tmp_path_factory.mktemp("webhooks-strict")
    live = start_server(f"sqlite:///{data_dir / 'openrevox.db'}", data_dir, {"OPENREVOX_ALLOW_PRIVATE_WEBHOOKS": "0"})
    yield live
    stop_server(live)


@pytest.fixture
def client(hook_server):
    with hook_server.client() as http:
        yield http


# -- helpers --------------------------------------------------------------------------------


def place(http: httpx.Client, number: str, webhook_url: str, **extra) -> dict:
    body = {
        "phone_number": number,
        "assistant": {"prompt": "Say hello", "call_retry_config": ALL_DAY, "webhook_url": webhook_url},
        "force_now": True,
        **extra,
    }
    response = http.post("/call", json=body)
    assert response.status_code == 200, response.text
    return response.json()["call"]


def get_call(http: httpx.Client, call_id: str) -> dict:
    response = http.get(f"/call/{call_id}")
    assert response.status_code == 200, response.text
    return response.json()["call"]


def deliveries_of(http: httpx.Client, call_id: str) -> list[dict]:
    response = http.get("/webhook-deliveries", params={"page_size": 100})
    assert response.status_code == 200, response.text
    return [d for d in response.json()["deliveries"] if d["call_id"] == call_id]


def delivered(http: httpx.Client, call_id: str) -> dict | None:
    found = deliveries_of(http, call_id)
    return found[0] if found and found[0]["status"] == "delivered" else None


def secret_of(server: LiveServer) -> str:
    return run_cli(server.env, "webhooks", "secret")


# -- delivery -------------------------------------------------------------------------------


def test_a_finished_call_is_posted_signed_with_the_call_as_get_returns_it(hook_server, client, receiver):
    call = place(client, NOT_ATTRIBUTED, receiver.url)
    (request,) = wait_for(lambda: receiver.for_call(call["id"]), 20, "the webhook")

    secret = secret_of(hook_server)
    assert secret.startswith("whsec_")
    payload = Webhook(secret).verify(request.body, request.headers)  # raises unless signed with it
    assert payload["type"] == "call.completed"
    assert payload["call"]["status"] == "errored"
    assert payload["call"] == get_call(client, call["id"])
    assert request.headers["content-type"] == "application/json"
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(request.body.replace(b"errored", b"complete"), request.headers)

    record = wait_for(lambda: delivered(client, call["id"]), 5, "the delivery to be recorded")
    assert record["id"] == request.headers["webhook-id"]
    assert record["event_type"] == "call.completed"
    assert record["attempts"] == 1
    assert record["payload"] == payload
    (attempt,) = record["tries"]
    assert attempt["status_code"] == 200
    assert attempt["error"] is None
    assert attempt["response_excerpt"] == "ok"
    assert attempt["latency_ms"] >= 0


def test_a_completed_call_is_posted_too(client, receiver):
    call = place(client, HANGS_UP, receiver.url)
    (request,) = wait_for(lambda: receiver.for_call(call["id"]), 20, "the webhook")
    assert json.loads(request.body)["call"]["status"] == "completed"
    assert json.loads(request.body)["call"] == get_call(client, call["id"])


def test_a_recorded_call_is_posted_with_a_link_valid_past_the_webhooks_retries(hook_server, client, receiver):
    call = place(client, TALKS, receiver.url)
    (request,) = wait_for(lambda: receiver.for_call(call["id"]), 30, "the webhook")
    link = httpx.URL(json.loads(request.body)["call"]["last_call_attempt"]["recording_url"])
    assert str(link).startswith(f"{PUBLIC_URL}/recordings/")
    assert int(link.params["expires"]) - time.time() > 24 * 3600  # as long as retries may last, and more
    audio = httpx.get(f"{hook_server.base_url}{link.raw_path.decode()}")  # through the "proxy"
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"


def test_a_cancelled_call_is_posted_at_cancel(client, receiver):
    call = place(client, HANGS_UP, receiver.url, force_now=False, scheduled_at="2099-01-01T00:00:00Z")
    assert client.post(f"/call/{call['id']}/cancel").status_code == 200
    (request,) = wait_for(lambda: receiver.for_call(call["id"]), 10, "the webhook")
    sent = json.loads(request.body)["call"]
    assert sent["status"] == "cancelled" and sent["is_cancelled"] is True
    assert sent == get_call(client, call["id"])


def test_cancelling_a_campaign_posts_each_of_its_calls(client, receiver):
    assistant = client.post("/assistants", json={"name": "Hooked", "prompt": "Hi", "webhook_url": receiver.url})
    assert assistant.status_code == 200, assistant.text
    contacts = [{"to_phone_number": f"+1202555{n:04d}", "prompt_variables": {}} for n in range(2000, 2003)]
    created = client.post(
        "/campaigns",
        json={
            "assistant_id": assistant.json()["assistant"]["id"], "name": "Hooked", "contacts": contacts,
            "scheduled_at": "2099-01-01T00:00:00Z",
        },
    )  # fmt: skip
    assert created.status_code == 200, created.text
    campaign_id = created.json()["campaign"]["id"]
    assert client.post(f"/campaigns/{campaign_id}/cancel").status_code == 200
    numbers = {c["to_phone_number"] for c in contacts}  # this test's own

    def sent() -> list[dict]:
        with receiver.lock:
            calls = [json.loads(r.body)["call"] for r in receiver.requests]
        return [c for c in calls if c["to_phone_number"] in numbers]

    calls = wait_for(lambda: len(sent()) == 3 and sent(), 10, "a webhook per cancelled call")
    assert {c["to_phone_number"] for c in calls} == numbers
    for call in calls:
        assert call["status"] == "cancelled"
        assert call == get_call(client, call["id"])


def test_no_webhook_url_no_webhook(client, receiver):
    response = client.post(
        "/call", json={"phone_number": NOT_ATTRIBUTED, "assistant": {"prompt": "Hi"}, "force_now": True}
    )
    call_id = response.json()["call"]["id"]
    wait_for(lambda: get_call(client, call_id)["status"] == "errored", 20, "the call to end")
    time.sleep(0.5)
    assert deliveries_of(client, call_id) == []


def test_a_receiver_failing_five_times_gets_one_success_after_six_tries(hook_server, client, receiver):
    receiver.plan = [(500, {})] * 3 + [(503, {}), (429, {})]
    call = place(client, NOT_ATTRIBUTED, receiver.url)
    record = wait_for(lambda: delivered(client, call["id"]), 40, "the delivery")

    requests = receiver.for_call(call["id"])
    assert [r.answered for r in requests] == [500, 500, 500, 503, 429, 200]
    assert len({r.headers["webhook-id"] for r in requests}) == 1  # one message, tried six times
    secret = secret_of(hook_server)
    for r in requests:
        Webhook(secret).verify(r.body, r.headers)
    gaps = [b.at - a.at for a, b in zip(requests, requests[1:], strict=False)]
    assert all(gap >= 0.09 for gap in gaps), gaps  # 0.2 s doubled per failure, jitter at most half
    assert gaps[-1] > gaps[0]

    assert record["attempts"] == 6
    assert [t["status_code"] for t in record["tries"]] == [500, 500, 500, 503, 429, 200]
    assert all(len(t["response_excerpt"]) == 1024 for t in record["tries"][:5])  # capped at 1 KB
    time.sleep(0.5)
    assert len(receiver.for_call(call["id"])) == 6  # and nothing after the success


def test_retry_after_is_honoured(client, receiver):
    receiver.plan = [(503, {"Retry-After": "2"})]
    call = place(client, NOT_ATTRIBUTED, receiver.url)
    wait_for(lambda: delivered(client, call["id"]), 20, "the delivery")
    first, second = receiver.for_call(call["id"])
    assert second.at - first.at >= 1.9


def test_a_delivery_can_be_resent_and_other_organizations_cannot(hook_server, client, receiver):
    call = place(client, NOT_ATTRIBUTED, receiver.url)
    record = wait_for(lambda: delivered(client, call["id"]), 20, "the delivery")

    with hook_server.client(hook_server.other_api_key) as other:
        assert other.post(f"/webhook-deliveries/{record['id']}/resend").status_code == 404
        assert all(d["call_id"] != call["id"] for d in other.get("/webhook-deliveries").json()["deliveries"])
    assert client.post("/webhook-deliveries/no-such-id/resend").status_code == 404

    response = client.post(f"/webhook-deliveries/{record['id']}/resend")
    assert response.status_code == 200, response.text
    assert response.json()["delivery"]["status"] == "pending"
    wait_for(lambda: len(receiver.for_call(call["id"])) == 2, 10, "the second send")
    again = wait_for(lambda: delivered(client, call["id"]), 5, "the resend to be recorded")
    assert [t["status_code"] for t in again["tries"]] == [200, 200]
    first, second = receiver.for_call(call["id"])
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert json.loads(first.body) == json.loads(second.body)


def test_deliveries_are_listed_newest_first_and_paginated(client, receiver):
    calls = [place(client, NOT_ATTRIBUTED, receiver.url) for _ in range(3)]
    for call in calls:
        wait_for(lambda c=call: delivered(client, c["id"]), 20, "the deliveries")
    page0 = client.get("/webhook-deliveries", params={"page_size": 2}).json()["deliveries"]
    page1 = client.get("/webhook-deliveries", params={"page_size": 2, "page": 1}).json()["deliveries"]
    assert len(page0) == 2 and page1
    stamps = [d["created_at"] for d in page0 + page1]
    assert stamps == sorted(stamps, reverse=True)
    assert not {d["id"] for d in page0} & {d["id"] for d in page1}
    assert client.get("/webhook-deliveries", params={"page_size": 0}).status_code == 422


# -- refusal --------------------------------------------------------------------------------

REFUSED = [
    "http://127.0.0.1:9/hook",
    "http://10.0.0.8/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:9/hook",
    "http://localhost:9/hook",  # a hostname resolving to loopback
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_webhook_targets_are_refused_on_call_create(strict_server, url):
    with strict_server.client() as http:
        response = http.post(
            "/call", json={"phone_number": NOT_ATTRIBUTED, "assistant": {"prompt": "Hi", "webhook_url": url}}
        )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == "assistant.webhook_url"
    assert "OPENREVOX_ALLOW_PRIVATE_WEBHOOKS" in error["message"]


@pytest.mark.parametrize("url", REFUSED)
def test_private_webhook_targets_are_refused_on_assistants(strict_server, url):
    with strict_server.client() as http:
        created = http.post("/assistants", json={"name": "a", "prompt": "Hi", "webhook_url": url})
        assert created.status_code == 422, created.text
        assert created.json()["error"]["param"] == "webhook_url"
        ok = http.post("/assistants", json={"name": "a", "prompt": "Hi"})
        assert ok.status_code == 200, ok.text
        patched = http.patch(f"/assistants/{ok.json()['assistant']['id']}", json={"webhook_url": url})
        assert patched.status_code == 422, patched.text


# -- a crash between the terminal status and the delivery -----------------------------------


def test_a_webhook_written_before_a_sigkill_is_delivered_after_restart(backend, tmp_path_factory, receiver):
    """The first server never gets to deliver (its deliverer waits an hour between passes): the
    outbox row committed with the terminal status is all that is left when it is SIGKILLed; the
    restarted server delivers it, once."""
    data_dir = tmp_path_factory.mktemp(f"webhooks-kill-{backend}")
    url = database_url_for(backend, data_dir)
    try:
        first = start_server(url, data_dir, {**DELIVERING_ENV, "OPENREVOX_WEBHOOK_INTERVAL": "3600"})
        try:
            with first.client() as http:
                call = place(http, NOT_ATTRIBUTED, receiver.url)
                pending = wait_for(lambda: deliveries_of(http, call["id"]), 20, "the outbox row")
                assert get_call(http, call["id"])["status"] == "errored"
                at_end = get_call(http, call["id"])
        finally:
            first.process.kill()  # SIGKILL: no shutdown, nothing flushed
            first.process.wait(10)
        assert pending[0]["status"] == "pending" and pending[0]["tries"] == []
        assert receiver.requests == []

        second = start_server(url, data_dir, DELIVERING_ENV)
        try:
            with second.client() as http:
                record = wait_for(lambda: delivered(http, call["id"]), 20, "the delivery after restart")
                assert get_call(http, call["id"]) == at_end
            (request,) = receiver.for_call(call["id"])
            payload = Webhook(secret_of(second)).verify(request.body, request.headers)
            assert payload["call"] == at_end
            assert record["attempts"] == 1
        finally:
            stop_server(second)
    finally:
        if backend == "postgres":
            drop_postgres_database(url)
