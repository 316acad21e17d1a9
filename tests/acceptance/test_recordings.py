"""Recordings end to end: a sandbox conversation ends with a recording of both sides; a live
`openrevox serve` renders `recording_url` as a signed link (read with the official SDK) that plays
without a key until it expires; the owner's key also works; forged or expired links are 403 and
another organization's key 404. On SQLite and PostgreSQL.

Past the first test, recordings are set as the voice agent does: a WAV saved to the data dir's
storage, then its ref written through the orders store.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from conftest import BACKENDS, LiveServer, live_server
from revox import Revox
from revox.types.call_retrieve_response import Call
from wav_checks import loud_frames, read_wav

from openrevox.agent.recording import SpokenLine, sandbox_recording, save_recording
from openrevox.config import Settings
from openrevox.db.engine import create_engine
from openrevox.orders.store import set_recording_ref
from openrevox.recording_links import SECRET_FILE, signature
from openrevox.storage import LocalDiskStorage

TALKS = "+12025550100"  # a human who says three lines
HANGS_UP = "+12025550107"  # answered, then hung up at once: a completed attempt in well under a second
FAST = {"OPENREVOX_SANDBOX_SPEED": "10", "OPENREVOX_DISPATCH_INTERVAL": "0.05"}
ONE_ATTEMPT = {  # all day, no retry: the call completes with its first attempt
    "calling_windows": [
        {"calling_window_start_time": "00:00", "calling_window_end_time": "00:00", "retry_delay_seconds": 1}
    ],
    "max_retry_attempts": 1,
}
LINES = [SpokenLine("assistant", "Hi, this is Ada.", 0.0), SpokenLine("user", "Hello? Who is this?", 1.5)]


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory) -> LiveServer:
    with live_server(request.param, tmp_path_factory.mktemp(f"recordings-{request.param}"), FAST) as server:
        yield server


@pytest.fixture(scope="module")
def wav() -> bytes:
    return sandbox_recording(LINES)


def sdk(server: LiveServer, api_key: str | None = None) -> Revox:
    return Revox(api_key=api_key or server.api_key, base_url=server.base_url)


def finished_call(server: LiveServer, phone_number: str = HANGS_UP, **assistant) -> Call:
    """A new call whose only attempt has completed, as the SDK retrieves it."""
    client = sdk(server)
    assistant = {"prompt": "Say hi.", "call_retry_config": ONE_ATTEMPT, **assistant}
    call = client.call.create(phone_number=phone_number, assistant=assistant, force_now=True).call
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = client.call.retrieve(call.id).call
        if found.status == "completed":
            return found
        time.sleep(0.05)
    pytest.fail(f"call {call.id} did not complete: {found.status}")


def finished_attempt_id(server: LiveServer) -> tuple[str, str]:
    """(call id, attempt id) of a new call whose only attempt has completed."""
    call = finished_call(server)
    return call.id, call.last_call_attempt.id


def record(server: LiveServer, attempt_id: str, wav: bytes) -> None:
    """What the voice agent does when an answered attempt ends."""

    async def main() -> None:
        ref = await save_recording(LocalDiskStorage(Path(server.env["OPENREVOX_DATA_DIR"]) / "recordings"), attempt_id, wav)
        engine = create_engine(Settings(database_url=server.database_url).resolved_database_url)
        try:
            async with engine.begin() as conn:
                await set_recording_ref(conn, attempt_id, ref)
        finally:
            await engine.dispose()

    asyncio.run(main())


@pytest.fixture(scope="module")
def recorded(live, wav) -> tuple[str, str]:
    call_id, attempt_id = finished_attempt_id(live)
    record(live, attempt_id, wav)
    return call_id, attempt_id


@pytest.fixture(scope="module")
def unrecorded(live) -> tuple[str, str]:
    """A finished call of the owner's whose attempt has no recording."""
    return finished_attempt_id(live)


def recording_url(server: LiveServer, call_id: str) -> str:
    return sdk(server).call.retrieve(call_id).call.last_call_attempt.recording_url


def with_query(url: str, **changes: str) -> str:
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()} | changes
    return split._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()


# -- the link plays -------------------------------------------------------------------------


def test_a_sandbox_conversation_is_recorded_callee_left_agent_right(live):
    call = finished_call(live, TALKS, first_sentence_mode="static", first_sentence="Hi, this is Ada from the clinic.")
    attempt = call.last_call_attempt
    said = [e.role for e in attempt.transcript if e.role != "tool"]
    assert said[0] == said[-1] == "user" and said.count("assistant") >= 1  # "Hello?" first, "goodbye" last
    response = httpx.get(attempt.recording_url)
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    rate, frames = read_wav(response.content)
    callee, agent = loud_frames(frames[:, 0], rate), loud_frames(frames[:, 1], rate)
    assert callee.sum() * 0.02 > 1.5 and agent.sum() * 0.02 > 1.5  # seconds of speech on each side
    sound = np.flatnonzero(callee | agent)
    assert callee[sound[0]] and not agent[sound[0]]  # the callee speaks first...
    assert callee[sound[-1]] and not agent[sound[-1]]  # ...and last
    assert (callee & agent).sum() < 0.1 * min(callee.sum(), agent.sum())  # they take turns


def test_recording_url_plays_without_a_key(live, recorded, wav):
    call_id, attempt_id = recorded
    url = recording_url(live, call_id)
    assert url.startswith(f"{live.base_url}/recordings/{attempt_id}.wav?expires=")
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    assert 3590 < expires - time.time() <= 3600  # an hour by default

    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content == wav
    rate, frames = read_wav(response.content)
    assert rate == 8000 and len(frames) > 2 * rate  # stereo, over two seconds


def test_every_read_of_the_call_carries_the_link(live, recorded):
    call_id, attempt_id = recorded
    client = sdk(live)
    listed = [c for c in client.call.list(page=0, page_size=100).calls if c.id == attempt_id]
    assert len(listed) == 1
    for url in (listed[0].recording_url, client.call.retrieve(call_id).call.call_attempts[0].recording_url):
        assert httpx.get(url).status_code == 200
    found = httpx.post(
        f"{live.base_url}/call/search",
        json={"page": 0, "page_size": 10, "call_ids": [call_id]},
        headers={"Authorization": f"Bearer {live.api_key}"},
    )
    if found.status_code == 200:  # the search body as the newer SDKs send it
        assert httpx.get(found.json()["calls"][0]["last_call_attempt"]["recording_url"]).status_code == 200


def test_an_attempt_without_recording_has_no_url(live, unrecorded):
    assert recording_url(live, unrecorded[0]) is None


def test_byte_ranges_let_a_player_seek(live, recorded, wav):
    url = recording_url(live, recorded[0])
    head = httpx.get(url, headers={"Range": "bytes=0-43"})
    assert head.status_code == 206 and head.content == wav[:44]
    assert head.headers["content-range"] == f"bytes 0-43/{len(wav)}"
    tail = httpx.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == wav[-100:]
    rest = httpx.get(url, headers={"Range": "bytes=1000-"})
    assert rest.status_code == 206 and rest.content == wav[1000:]
    beyond = httpx.get(url, headers={"Range": f"bytes={len(wav)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(wav)}"
    assert beyond.json()["error"]["param"] == "range"
    for ignored in ("bytes=20-10", "bytes=0-1,5-6", "lines=1-2"):  # invalid or several: the whole file
        whole = httpx.get(url, headers={"Range": ignored})
        assert whole.status_code == 200 and whole.content == wav, ignored
    info = httpx.head(url)
    assert info.status_code == 200 and info.headers["content-length"] == str(len(wav)) and info.content == b""


# -- who may fetch it -----------------------------------------------------------------------


def test_forged_and_expired_links_are_forbidden(live, recorded, unrecorded):
    call_id, attempt_id = recorded
    url = recording_url(live, call_id)
    sig = parse_qs(urlsplit(url).query)["signature"][0]
    later = str(int(time.time()) + 86_400 * 365)
    key = (Path(live.env["OPENREVOX_DATA_DIR"]) / SECRET_FILE).read_text().strip().encode()
    past = int(time.time()) - 1
    forbidden = {
        "a changed signature": with_query(url, signature=("A" if sig[0] != "A" else "B") + sig[1:]),
        "a later expiry": with_query(url, expires=later),
        "a properly signed but expired link": with_query(url, expires=str(past), signature=signature(key, attempt_id, past)),
        "no signature": url.split("?")[0],
    }
    for what, bad in forbidden.items():
        response = httpx.get(bad)
        assert response.status_code == 403, what
        assert response.json()["error"]["type"] == "forbidden", what
    assert "expired" in httpx.get(forbidden["a properly signed but expired link"]).json()["error"]["message"]
    # A signature is for one attempt only.
    assert httpx.get(url.replace(attempt_id, unrecorded[1])).status_code == 403
    bad_expiry = httpx.get(with_query(url, expires="soon"))
    assert bad_expiry.status_code == 422 and bad_expiry.json()["error"]["param"] == "expires"


def test_the_owners_key_fetches_it_and_another_organizations_key_finds_nothing(live, recorded, unrecorded, wav):
    _, attempt_id = recorded
    bare = f"{live.base_url}/recordings/{attempt_id}.wav"
    own = httpx.get(bare, headers={"Authorization": f"Bearer {live.api_key}"})
    assert own.status_code == 200 and own.content == wav
    other = httpx.get(bare, headers={"Authorization": f"Bearer {live.other_api_key}"})
    assert other.status_code == 404 and other.json()["error"]["param"] == "attempt_id"
    assert httpx.get(bare, headers={"Authorization": "Bearer sk_not_a_key"}).status_code == 401
    unknown = f"{live.base_url}/recordings/00000000-0000-0000-0000-000000000000.wav"
    assert httpx.get(unknown, headers={"Authorization": f"Bearer {live.api_key}"}).status_code == 404
    missing = httpx.get(f"{live.base_url}/recordings/{unrecorded[1]}.wav", headers={"Authorization": f"Bearer {live.api_key}"})
    assert missing.status_code == 404 and "no recording" in missing.json()["error"]["message"]
    # The other organization never sees the call, so never gets a link to it either.
    assert sdk(live, live.other_api_key).call.list(page=0, page_size=100).calls == []
