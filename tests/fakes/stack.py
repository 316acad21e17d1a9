"""openrevox in the test's process, on a real port, wired to a fake carrier, with the EchoAgent as
its voice agent and one phone number; read through the API like a user would."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from revox import Revox

from conftest import free_port
from fakes.carrier import FakeCarrier
from fakes.echo_agent import EchoAgent
from fakes.servers import ThreadedServer
from openrevox.app import create_app, create_worker_app
from openrevox.config import Settings
from openrevox.orgs.service import ensure_organization
from openrevox.phone_numbers import service as phone_numbers

OUR_NUMBER = "+14155550100"
ALL_DAY_RETRY = {
    "calling_windows": [{"calling_window_start_time": "00:00", "calling_window_end_time": "00:00", "retry_delay_seconds": 0}],
}
TERMINAL = ("completed", "cancelled", "errored")


@dataclass
class Stack:
    carrier: FakeCarrier
    server: ThreadedServer
    agent: EchoAgent
    api_key: str

    @property
    def revox(self) -> Revox:
        return Revox(api_key=self.api_key, base_url=self.server.url)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30)

    def call(self, to: str, max_retry_attempts: int = 0) -> str:
        """POST /call with the official SDK; retries right away, at any hour."""
        retry = {**ALL_DAY_RETRY, "max_retry_attempts": max_retry_attempts}
        created = self.revox.call.create(phone_number=to, assistant={"prompt": "Say hello", "call_retry_config": retry})
        return created.call.id

    def get(self, call_id: str) -> dict:
        with self.http() as http:
            return http.get(f"/call/{call_id}").json()["call"]

    def finished(self, call_id: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while (call := self.get(call_id))["status"] not in TERMINAL:
            assert time.monotonic() < deadline, f"call {call_id} still {call['status']}: {call}"
            time.sleep(0.1)
        return call

    def latest_attempt(self, call_id: str, statuses: tuple[str, ...], timeout: float = 20) -> dict:
        """The call's latest attempt, once its status is one of `statuses`."""
        deadline = time.monotonic() + timeout
        while (attempt := self.get(call_id)["last_call_attempt"]) is None or attempt["status"] not in statuses:
            assert time.monotonic() < deadline, f"call {call_id}: attempt {attempt}"
            time.sleep(0.05)
        return attempt

    def inbound_orders(self) -> list[dict]:
        search = {"assignee_ids": [], "assistant_ids": [], "campaign_ids": [], "directions": ["inbound"],
                  "from_phone_numbers": [], "outcomes": [], "results": [], "statuses": [], "page": 0, "page_size": 10}  # fmt: skip
        with self.http() as http:
            return http.post("/call/search", json=search).json()["calls"]

    def answer_our_number_with(self, assistant_name: str) -> dict:
        with self.http() as http:
            assistant = http.post("/assistants", json={"name": assistant_name, "prompt": "Answer"}).json()["assistant"]
            (number,) = http.get("/phone-numbers").json()["phone_numbers"]
            http.patch(f"/phone-numbers/{number['id']}", json={"inbound_assistant_id": assistant["id"]})
        return assistant


@contextmanager
def openrevox_with(
    carrier: FakeCarrier,
    carrier_settings: dict,
    database_url: str,
    data_dir: Path,
    behind: str | None = None,
    worker: bool = False,
) -> Iterator[Stack]:
    """`behind`: the public URL of another openrevox on the same database, which this one joins as a
    second process: the carrier's webhooks go there, its media sockets come to this one's own address.
    `worker`: that second process is an `openrevox worker --port` (media sockets, no API)."""
    port, api_key = free_port(), f"sk_test_{uuid.uuid4().hex}"
    address = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=data_dir, database_url=database_url, api_key=api_key, public_url=behind or address,
        media_url=address if behind else None, carrier_timeout_seconds=1.0, dispatch_interval=0.05,
        lease_seconds=5, **carrier_settings,
    )  # fmt: skip
    app = create_worker_app(settings) if worker else create_app(settings)
    with ThreadedServer(app, "openrevox", port) as server:
        agent = app.state.services.agent = EchoAgent()

        async def add_number() -> None:
            async with app.state.engine.begin() as conn:
                org_id = await ensure_organization(conn, settings.default_organization)
                await phone_numbers.add(conn, org_id, OUR_NUMBER, settings.carrier)

        if not behind:
            server.call(add_number())
        yield Stack(carrier, server, agent, api_key)
