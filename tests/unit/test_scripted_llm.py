"""The scripted OpenAI-compatible server (tests/scripted_llm.py), read by the `openai` client and Pipecat."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.frames.frames import LLMContextFrame, LLMTextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.tests.utils import run_test

from scripted_llm import Reply, ScriptedLLM

MESSAGES = [{"role": "user", "content": "Hi there"}]


@pytest.fixture
def llm():
    with ScriptedLLM() as server:
        yield server


def client(llm: ScriptedLLM) -> OpenAI:
    return OpenAI(base_url=llm.base_url, api_key="unused", max_retries=0)


def stream(llm: ScriptedLLM, **extra) -> list:
    return list(client(llm).chat.completions.create(model="gpt-4.1", messages=MESSAGES, stream=True, **extra))


def test_text_is_streamed_one_word_per_chunk():
    with ScriptedLLM() as llm:
        llm.queue(Reply.text("Hello! How are you today?"))
        chunks = stream(llm)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == ["Hello!", " How", " are", " you", " today?"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" and c.model == "gpt-4.1" for c in chunks)


def test_usage_chunk_only_when_asked(llm):
    llm.queue(Reply.text("One two three"), Reply.text("One two three"))
    without = stream(llm)
    with_usage = stream(llm, stream_options={"include_usage": True})
    assert all(c.usage is None for c in without)
    assert with_usage[-1].choices == [] and with_usage[-1].usage.completion_tokens == 3
    assert with_usage[-1].usage.prompt_tokens == 2  # "Hi there"


def test_tool_call_arguments_are_streamed_in_pieces_and_reassemble(llm):
    arguments = {"reason": "the callee said goodbye", "summary": "all done"}
    llm.queue(Reply.tool_call("end_call", arguments))
    chunks = stream(llm)
    calls = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(calls) > 2  # a head, then several argument pieces
    assert calls[0].function.name == "end_call" and calls[0].id and calls[0].type == "function"
    assert all(c.index == 0 for c in calls) and all(c.id is None for c in calls[1:])
    assert json.loads("".join(c.function.arguments for c in calls)) == arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_text_then_several_tool_calls(llm):
    llm.queue(
        Reply.text_then_tool_call("Let me transfer you.", "transfer_call", {}),
        Reply.tool_calls([("send_dtmf", {"digits": "1"}), ("skip_turn", {})]),
    )
    first = stream(llm)
    assert "".join(c.choices[0].delta.content or "" for c in first) == "Let me transfer you."
    assert [c.choices[0].delta.tool_calls[0].function.name for c in first if c.choices[0].delta.tool_calls][0] == (
        "transfer_call"
    )
    second = stream(llm)
    heads = [c.choices[0].delta.tool_calls[0] for c in second if c.choices[0].delta.tool_calls]
    heads = [h for h in heads if h.function.name]
    assert [(h.index, h.function.name) for h in heads] == [(0, "send_dtmf"), (1, "skip_turn")]
    assert heads[0].id != heads[1].id


def test_non_streaming_completion_with_response_format(llm):
    llm.queue(Reply.text('{"name": "Ada"}'), Reply.tool_call("end_call", {"reason": "done"}))
    schema = {"name": "out", "strict": True, "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}
    done = client(llm).chat.completions.create(
        model="gpt-4.1", messages=MESSAGES, response_format={"type": "json_schema", "json_schema": schema}
    )
    assert done.object == "chat.completion" and done.choices[0].finish_reason == "stop"
    assert json.loads(done.choices[0].message.content) == {"name": "Ada"}
    tool = client(llm).chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    call = tool.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("end_call", {"reason": "done"})
    assert llm.requests[0]["response_format"]["json_schema"] == schema


def test_raw_content_is_sent_verbatim(llm):
    llm.queue(Reply.raw('{"name": "Ada", '), Reply.raw("not  json  at all"))
    assert client(llm).chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == (
        '{"name": "Ada", '
    )
    pieces = [c.choices[0].delta.content for c in stream(llm) if c.choices and c.choices[0].delta.content]
    assert pieces == ["not  json  at all"]


def test_errors_scripted_and_when_nothing_is_left(llm):
    llm.queue(Reply.error(429, "slow down"))
    with pytest.raises(openai.RateLimitError, match="slow down"):
        stream(llm)
    with pytest.raises(openai.InternalServerError, match="ScriptedLLM: no scripted reply left"):
        client(llm).chat.completions.create(model="m", messages=MESSAGES)


def test_responder_answers_once_the_queue_is_empty():
    def echo(body: dict) -> Reply:
        return Reply.text(f"You said: {body['messages'][-1]['content']}")

    with ScriptedLLM(responder=echo) as llm:
        llm.queue(Reply.text("Scripted first."))
        answers = [
            client(llm).chat.completions.create(model="m", messages=[{"role": "user", "content": said}])
            for said in ("one", "two")
        ]
        assert [a.choices[0].message.content for a in answers] == ["Scripted first.", "You said: two"]
        assert [r["messages"][-1]["content"] for r in llm.requests] == ["one", "two"]


def test_a_responder_that_raises_is_a_500_naming_the_error():
    def broken(body: dict) -> Reply:
        raise KeyError("tools")

    with ScriptedLLM(responder=broken) as llm:
        with pytest.raises(openai.InternalServerError, match="the responder raised KeyError"):
            client(llm).chat.completions.create(model="m", messages=MESSAGES)


def test_delays_before_the_first_token_and_between_tokens():
    async def main():
        async with ScriptedLLM(first_token_delay=0.2, token_delay=0.05) as llm:
            llm.queue(Reply.text("a b c d e"))
            api = AsyncOpenAI(base_url=llm.base_url, api_key="unused", max_retries=0)
            loop = asyncio.get_running_loop()
            start = loop.time()
            arrivals = []
            async for chunk in await api.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    arrivals.append(loop.time() - start)
            return arrivals

    arrivals = asyncio.run(main())
    assert len(arrivals) == 5
    assert arrivals[0] >= 0.2
    assert arrivals[-1] - arrivals[0] >= 4 * 0.05 * 0.8


def test_wait_for_requests_sees_requests_from_another_thread(llm):
    llm.queue(Reply.text("ok"))
    client(llm).chat.completions.create(model="m", messages=MESSAGES)
    assert llm.wait_for_requests(1, timeout=1)[0]["messages"] == MESSAGES
    with pytest.raises(TimeoutError):
        llm.wait_for_requests(2, timeout=0.05)


def test_pipecat_openai_llm_service_consumes_the_stream():
    """Pipecat's OpenAILLMService reads the text and runs the streamed tool call with its arguments."""
    end_call = FunctionSchema(
        name="end_call", description="Hang up", properties={"reason": {"type": "string"}}, required=[]
    )
    called: list[dict] = []

    async def on_end_call(params) -> None:
        called.append(params.arguments)
        await params.result_callback({"ok": True})

    async def main(llm: ScriptedLLM) -> list:
        settings = OpenAILLMService.Settings(model="gpt-4.1")
        service = OpenAILLMService(api_key="unused", base_url=llm.base_url, settings=settings)
        service.register_function("end_call", on_end_call)
        context = LLMContext(messages=[{"role": "user", "content": "Bye!"}], tools=[end_call])
        down, _ = await run_test(service, frames_to_send=[LLMContextFrame(context)])
        return down

    with ScriptedLLM() as llm:
        llm.queue(Reply.text_then_tool_call("Goodbye then, have a nice day.", "end_call", {"reason": "goodbye"}))
        down = asyncio.run(main(llm))
        sent = llm.requests[0]
    assert "".join(f.text for f in down if isinstance(f, LLMTextFrame)) == "Goodbye then, have a nice day."
    assert called == [{"reason": "goodbye"}]
    assert sent["stream"] is True and sent["tools"][0]["function"]["name"] == "end_call"
