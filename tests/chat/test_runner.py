"""The worker's side, run in-process against real backends and real Redis."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

import pytest
from django.test import override_settings

from chat import streams
from chat.engine import engine_backend
from chat.models import Generation, Message
from chat.runner import RetryLater, generation_execute, prompt_build
from chat.services import message_post
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def converse(conversation, turns):
    for role, text in turns:
        Message.objects.create(conversation=conversation, role=role, text=text)


def test_the_prompt_carries_the_earlier_turns_in_order():
    conversation = ConversationFactory.create()
    converse(conversation, [("user", "My name is Zed."), ("assistant", "Nice to meet you, Zed!")])
    generation = message_post(conversation=conversation, text="What is my name?").generation
    messages, dropped = prompt_build(generation, engine_backend())
    assert dropped == 0
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "My name is Zed."
    assert messages[-1]["content"] == "What is my name?"


@override_settings(GENERATION_CONTEXT_TOKENS=700, GENERATION_MAX_TOKENS=300)
def test_a_long_history_drops_the_oldest_whole_turns():
    conversation = ConversationFactory.create()
    converse(
        conversation,
        [
            ("user", "old " * 300),
            ("assistant", "older " * 300),
            ("user", "Recent question?"),
            ("assistant", "Recent answer."),
        ],
    )
    generation = message_post(conversation=conversation, text="New question?").generation
    messages, dropped = prompt_build(generation, engine_backend())
    assert dropped == 2
    assert [m["content"] for m in messages[1:]] == [
        "Recent question?",
        "Recent answer.",
        "New question?",
    ]


def test_a_generation_runs_in_the_worker_and_is_written_once():
    generation = message_post(conversation=ConversationFactory.create(), text="Say hi.").generation
    generation_execute(generation.id)
    generation.refresh_from_db()
    assert generation.message is not None
    generation.message.refresh_from_db()
    assert generation.status == Generation.Status.DONE
    assert generation.message.text and generation.message.text == streams.stream_text(generation.id)
    assert generation.first_token_at and generation.done_at and generation.completion_tokens > 0
    generation_execute(generation.id)  # a redelivered task changes nothing
    assert Generation.objects.get(id=generation.id).done_at == generation.done_at


class Overloaded(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._json(200, b'{"data": [{"id": "busy", "object": "model"}]}')

    def do_POST(self) -> None:
        self._json(503, b'{"error": {"message": "overloaded"}}')

    def _json(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def overloaded_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Overloaded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_an_overloaded_backend_puts_the_generation_back_in_the_queue(overloaded_server, settings):
    settings.INFERENCE_BACKEND = "inference.backends.openai_compatible.OpenAICompatibleBackend"
    settings.INFERENCE_OPTIONS = {"base_url": overloaded_server, "served_model": "busy"}
    generation = message_post(conversation=ConversationFactory.create(), text="hi").generation
    with pytest.raises(RetryLater):
        generation_execute(generation.id)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED  # the task retries it later


def test_an_unreachable_backend_fails_the_answer_with_a_clear_error(settings):
    settings.INFERENCE_BACKEND = "inference.backends.openai_compatible.OpenAICompatibleBackend"
    settings.INFERENCE_OPTIONS = {
        "base_url": "http://127.0.0.1:9/v1",
        "served_model": "m",
        "timeout": 2,
    }
    generation = message_post(conversation=ConversationFactory.create(), text="hi").generation
    generation_execute(generation.id)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "backend_unavailable"
    assert "127.0.0.1:9" in generation.error_detail or generation.error_detail  # for staff
    entries = cast(list, streams.redis_sync().xrange(streams.stream_key(generation.id)))
    assert entries[-1][1] == {"kind": "error", "code": "backend_unavailable"}  # no exception text
    event = dict(streams.stream_event(str(generation.id), *entries[-1]))
    assert event["detail"] == "The assistant's model is not available right now. Try again shortly."
