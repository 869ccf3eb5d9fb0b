"""The whole stack: daphne + a real Celery worker + the packaged test model + Redis Streams."""

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import WorkerProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
LONG = "Write a long story about a lighthouse keeper, at least 400 words."


class Chat:
    def __init__(self, base: str) -> None:
        self.base = base
        body = httpx.post(f"{base}/api/v1/conversations", json={}, timeout=10).json()
        self.id, self.token = body["id"], body["token"]
        self.ws_url = base.replace("http", "ws", 1) + body["ws_url"]
        self.ws: Any = None

    async def open(self):
        self.ws = await websockets.connect(self.ws_url, open_timeout=10)
        return self

    async def send(self, **event):
        await self.ws.send(json.dumps(event))

    async def recv(self, timeout=60):
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def ask(self, text, client_id="c1"):
        await self.send(type="user.message", text=text, client_id=client_id)
        created = [await self.recv(), await self.recv()]
        return created[1]["message"]["generation_id"]

    async def until_settled(self, deltas, timeout=120):
        """Collect deltas (seq -> text) until done/error; return the final event."""
        deadline = time.monotonic() + timeout
        while True:
            event = await self.recv(timeout=max(deadline - time.monotonic(), 0.1))
            if event["type"] == "generation.delta":
                assert event["seq"] not in deltas, "a delta arrived twice"
                deltas[event["seq"]] = event["text"]
            elif event["type"] in ("generation.done", "generation.error"):
                return event

    def stored(self):
        response = httpx.get(
            f"{self.base}/api/v1/conversations/{self.id}/messages",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        return response.json()["messages"]


async def test_an_answer_streams_in_order_and_is_stored_once(asgi_server, worker):
    chat = await Chat(asgi_server).open()
    await chat.ask("What is the capital of France?")
    deltas: dict[int, str] = {}
    done = await chat.until_settled(deltas)
    assert done["type"] == "generation.done" and done["status"] == "done"
    assert sorted(deltas) == list(range(1, len(deltas) + 1))
    assert done["seq"] == len(deltas) + 1 and done["usage"]["completion_tokens"] > 0
    answer = chat.stored()[-1]
    assert answer["role"] == "assistant" and answer["status"] == "done"
    assert answer["text"] == "".join(deltas[s] for s in sorted(deltas))
    await chat.ws.close()


async def test_a_reconnect_resumes_with_nothing_lost_or_doubled(asgi_server, worker):
    chat = await Chat(asgi_server).open()
    generation_id = await chat.ask(LONG)
    deltas: dict[int, str] = {}
    while len(deltas) < 3:
        event = await chat.recv()
        if event["type"] == "generation.delta":
            deltas[event["seq"]] = event["text"]
    await chat.ws.close()  # the connection drops mid-answer
    await asyncio.sleep(0.5)
    await chat.open()
    await chat.send(type="resume", generation_id=generation_id, after_seq=max(deltas))
    done = await chat.until_settled(deltas)
    assert done["type"] == "generation.done"
    assert sorted(deltas) == list(range(1, done["seq"]))
    assert chat.stored()[-1]["text"] == "".join(deltas[s] for s in sorted(deltas))
    await chat.ws.close()


async def test_stop_keeps_the_partial_answer_as_cancelled(asgi_server, worker):
    chat = await Chat(asgi_server).open()
    generation_id = await chat.ask(LONG)
    deltas: dict[int, str] = {}
    while not deltas:
        event = await chat.recv()
        if event["type"] == "generation.delta":
            deltas[event["seq"]] = event["text"]
    await chat.send(type="cancel", generation_id=generation_id)
    done = await chat.until_settled(deltas, timeout=30)
    assert done["type"] == "generation.done" and done["status"] == "cancelled"
    stored = chat.stored()[-1]
    assert stored["status"] == "cancelled"
    assert stored["text"] == "".join(deltas[s] for s in sorted(deltas))
    # It stopped well before the 300-token limit it would otherwise reach.
    assert 0 < done["usage"]["completion_tokens"] < 300
    await chat.ws.close()


async def test_a_dead_worker_is_reported_and_the_partial_answer_kept(
    asgi_server, worker: WorkerProcess
):
    chat = await Chat(asgi_server).open()
    await chat.ask(LONG)
    deltas: dict[int, str] = {}
    while len(deltas) < 2:
        event = await chat.recv()
        if event["type"] == "generation.delta":
            deltas[event["seq"]] = event["text"]
    worker.kill()  # kill -9 mid-answer
    error = await chat.until_settled(deltas, timeout=30)
    assert error["type"] == "generation.error" and error["code"] == "worker_lost"
    stored = chat.stored()[-1]
    assert stored["status"] == "failed"
    assert stored["text"] == "".join(deltas[s] for s in sorted(deltas))
    await chat.ws.close()


async def test_waiting_users_see_their_place_in_the_queue(asgi_server, worker: WorkerProcess):
    worker.kill()  # nothing runs until the worker is back
    first, second = await Chat(asgi_server).open(), await Chat(asgi_server).open()
    await first.ask("Say hello.")
    await second.ask("Say goodbye.")
    queued = await second.recv(timeout=10)
    assert queued["type"] == "generation.queued" and queued["position"] == 1
    worker.start()
    for chat in (first, second):
        done = await chat.until_settled({})
        assert done["type"] == "generation.done"
        await chat.ws.close()


async def test_health_and_metrics_report_the_running_stack(asgi_server, worker):
    health = httpx.get(f"{asgi_server}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json()["model"]["name"] == "smollm2-135m-instruct"
    chat = await Chat(asgi_server).open()
    await chat.ask("Say hi.")
    await chat.until_settled({})
    await chat.ws.close()
    metrics = httpx.get(f"{asgi_server}/metrics", timeout=10).text
    count = next(
        line
        for line in metrics.splitlines()
        if line.startswith("helpline_time_to_first_token_seconds_count")
    )
    assert float(count.split()[-1]) >= 1
    assert 'helpline_generations_total{status="done"}' in metrics
    assert "helpline_queue_depth" in metrics


async def test_an_oversize_frame_gets_its_error_and_a_close_code_daphne_accepts(asgi_server):
    chat = await Chat(asgi_server).open()
    await chat.ws.send(json.dumps({"type": "user.message", "text": "x" * 70_000}))
    error = await chat.recv(timeout=10)
    assert error["type"] == "error" and error["code"] == "frame_too_large"
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await chat.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009
    assert chat.stored() == []  # nothing stored half-way
    again = await Chat(asgi_server).open()  # the server is fine
    await again.send(type="ping")
    assert (await again.recv(timeout=10))["type"] == "pong"
    await again.ws.close()
