"""The voice agent on a Twilio Media Stream, end to end over real sockets: openrevox (in this
process, on a real port) dials a fake Twilio, whose callee speaks real speech (eSpeak NG) as
μ-law 8 kHz frames in real time; the agent hears it (Silero VAD and Smart Turn as in production),
answers with synthesized audio, and sends `clear` when the callee talks over it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import uuid
import wave

import httpx
import numpy as np
import pytest
from conftest import database_url_for, free_port
from fakes.servers import ThreadedServer
from fakes.stt import ScriptedSTT
from fakes.twilio_rest import FakeTwilio
from revox import Revox
from scripted_llm import Reply, ScriptedLLM

from openrevox.agent import speech
from openrevox.app import create_app
from openrevox.config import Settings
from openrevox.orgs.service import ensure_organization
from openrevox.phone_numbers import service as phone_numbers

OUR_NUMBER = "+14155550100"
CALLEE_SAYS = ("Hello? Who is this?", "Sorry, can you call me back later?")
GREETING = "Hi, you have reached Sam. I cannot take your call right now, please leave a message after the tone."
VOICEMAIL_MESSAGE = "Hello Sam, this is Ada from Sunny Solar. Please call us back when you can. Thank you, goodbye."
FAREWELL = "Wonderful, then we are all set. Thank you for your time today."
END_OF_CALL = "Goodbye from Sunny Solar, and have a lovely evening!"
OPENING = "Hi, this is Ada from Sunny Solar, calling about the solar panels you asked us about last week."


class TalkingCallee(FakeTwilio):
    """Says hello, lets the agent start its opening, then talks over it and waits for `clear`."""

    async def converse(self, call, script: str = "answer") -> None:  # noqa: ANN001
        call.media = media = self.media_client(call)
        await media.connect()
        await media.stream_pcm(speech.synthesize(CALLEE_SAYS[0], speech.CALLEE_VOICE) + bytes(16000))
        call.agent_started = await media.wait_for_media(4000, timeout=15)  # half a second of the opening
        clears = len(media.events("clear"))
        await media.stream_pcm(speech.synthesize(CALLEE_SAYS[1], speech.CALLEE_VOICE))
        await media.wait_for(lambda: len(media.events("clear")) > clears, timeout=10)
        await media.stop()


class Listener(FakeTwilio):
    """Says `says`, then listens until the caller hangs up; notes how much of the agent's audio
    had arrived when the hang-up came."""

    def __init__(self, says: str) -> None:
        super().__init__()
        self.says = says

    async def converse(self, call, script: str = "answer") -> None:  # noqa: ANN001
        call.media = media = self.media_client(call)
        await media.connect()
        await media.stream_pcm(speech.synthesize(self.says, speech.CALLEE_VOICE) + bytes(2 * 8000))
        await asyncio.wait_for(call.hung_up.wait(), 30)
        call.heard_at_hang_up = len(media.media())


@contextlib.contextmanager
def running(tmp_path, callee: FakeTwilio, heard: tuple[str, ...]):
    """openrevox on a real port, dialing `callee`, whose words the STT hears as `heard`."""
    port, api_key = free_port(), f"sk_test_{uuid.uuid4().hex}"
    with ScriptedLLM(responder=lambda body: Reply.text("No problem, I will call you back.")) as llm, callee as twilio:
        twilio.llm = llm
        settings = Settings(
            data_dir=tmp_path, database_url=database_url_for("sqlite", tmp_path), api_key=api_key,
            public_url=f"http://127.0.0.1:{port}", twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token, twilio_api_url=twilio.url, dispatch_interval=0.05,
            openai_base_url=llm.base_url, openai_api_key="sk-scripted",
        )  # fmt: skip
        app = create_app(settings)
        with ThreadedServer(app, "openrevox", port) as server:
            # The callee's words as a cloud STT would hear them, after VAD and turn detection.
            app.state.services.agent.stt_factory = lambda: ScriptedSTT(list(heard))

            async def add_number() -> None:
                async with app.state.engine.begin() as conn:
                    await phone_numbers.add(conn, await ensure_organization(conn, "default"), OUR_NUMBER, "twilio")

            server.call(add_number())
            yield twilio, Revox(api_key=api_key, base_url=server.url), api_key


@pytest.fixture
def stack(tmp_path):
    with running(tmp_path, TalkingCallee(), CALLEE_SAYS) as parts:
        yield parts


def wait_over(revox: Revox, call_id: str, seconds: float = 40):  # noqa: ANN201
    deadline = time.monotonic() + seconds
    while (call := revox.call.retrieve(call_id).call).status not in ("completed", "errored"):
        assert time.monotonic() < deadline, [(a.result, a.status, a.transcript) for a in call.call_attempts]
        time.sleep(0.2)
    return call


def test_agent_speaks_on_the_media_stream_and_clears_on_barge_in(stack):
    twilio, revox, api_key = stack
    retry = {"calling_windows": [{"calling_window_start_time": "00:00", "calling_window_end_time": "00:00", "retry_delay_seconds": 0}], "max_retry_attempts": 0}  # fmt: skip
    call_id = revox.call.create(
        phone_number="+12025550123",
        assistant={"prompt": "Sell panels.", "first_sentence_mode": "static", "first_sentence": OPENING, "call_retry_config": retry},
    ).call.id
    call = wait_over(revox, call_id)

    (twilio_call,) = twilio.calls_to("+12025550123")
    twilio.wait_done(twilio_call)
    media = twilio_call.media
    # The agent's opening came back as μ-law media on the stream, then a clear when talked over.
    assert len(twilio_call.agent_started) >= 4000
    outbound = [m["event"] for m in media.received if m["event"] in ("media", "clear")]
    assert "clear" in outbound[outbound.index("media") :]

    attempt = call.call_attempts[0]
    assert attempt.status == "completed" and attempt.ended_by == "user"
    assert attempt.result == "human"
    assert [t.role for t in attempt.transcript][:2] == ["user", "assistant"]
    assert attempt.transcript[0].content == CALLEE_SAYS[0]
    assert OPENING.startswith(attempt.transcript[1].content[:20])  # cut short by the barge-in
    # Both sides are in the recording: the callee on the left, the agent on the right.
    audio = httpx.get(attempt.recording_url, timeout=10)
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert wav.getnchannels() == 2
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.abs(pcm[:, 0]).max() > 1000 and np.abs(pcm[:, 1]).max() > 1000


ONE_ATTEMPT = {"calling_windows": [{"calling_window_start_time": "00:00", "calling_window_end_time": "00:00", "retry_delay_seconds": 0}], "max_retry_attempts": 0}  # fmt: skip


def one_listened_call(tmp_path, says: str, assistant: dict, replies: tuple = ()):  # noqa: ANN201
    """One attempt, answered by a `Listener` saying `says` (which the STT hears), the LLM giving
    `replies` first: the call order once over, and the fake Twilio's record of the call."""
    with running(tmp_path, Listener(says), (says,)) as (twilio, revox, _):
        twilio.llm.queue(*replies)
        call_id = revox.call.create(
            phone_number="+12025550123", assistant={**assistant, "call_retry_config": ONE_ATTEMPT}
        ).call.id
        call = wait_over(revox, call_id)
        (twilio_call,) = twilio.calls_to("+12025550123")
        twilio.wait_done(twilio_call)
    return call, twilio_call


def test_a_voicemail_hears_the_whole_message_before_the_agent_hangs_up(tmp_path):
    call, twilio_call = one_listened_call(
        tmp_path, GREETING, {"prompt": "Sell panels.", "voicemail_message": VOICEMAIL_MESSAGE}
    )

    attempt = call.call_attempts[0]
    assert attempt.result == "voicemail"
    assert (attempt.ended_by, attempt.end_reason) == ("agent", "voicemail")
    assert twilio_call.updates[-1]["Status"] == "completed"  # the agent hung up through the REST API
    # The message played to its end before that: every sample of it had reached the line.
    message_samples = len(speech.synthesize(VOICEMAIL_MESSAGE, speech.AGENT_VOICE)) // 2
    assert twilio_call.heard_at_hang_up >= 0.9 * message_samples


def test_the_end_of_call_sentence_plays_to_its_end_after_the_agents_last_words(tmp_path):
    """The LLM says its last words and calls end_call in one reply, so the end-of-call sentence is
    queued while those words still play: the hang-up waits for the sentence, not for them."""
    call, twilio_call = one_listened_call(
        tmp_path,
        "Hello? Yes, that is all I needed, thanks.",
        {"prompt": "Confirm the visit.", "end_of_call_sentence": END_OF_CALL},
        (Reply.text_then_tool_call(FAREWELL, "end_call", {"reason": "done"}),),
    )

    attempt = call.call_attempts[0]
    assert (attempt.ended_by, attempt.end_reason) == ("agent", "tool_end_call")
    agent = " ".join(entry.content for entry in attempt.transcript if entry.role == "assistant")
    assert FAREWELL in agent and agent.index(FAREWELL) < agent.index(END_OF_CALL), attempt.transcript
    # Both played to their end before the hang-up: their samples had all reached the line.
    both = sum(len(speech.synthesize(text, speech.AGENT_VOICE)) // 2 for text in (FAREWELL, END_OF_CALL))
    assert twilio_call.heard_at_hang_up >= 0.9 * both
