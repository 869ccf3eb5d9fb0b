"""A job's socket on the real ASGI app: its own token only, replay from the start with no
client frame, the live tail, Stop."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chat import streams
from chat.tokens import job_token_issue
from sites.services import site_default_ensure
from summarize.models import Summary
from summarize.services import summary_create
from webapp.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def job_socket(generation_id, token):
    communicator = WebsocketCommunicator(application, f"/ws/jobs/{generation_id}/?token={token}")
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


@database_sync_to_async
def queued_summary() -> Summary:
    return summary_create(site=site_default_ensure(), text="A text to summarize, one line.")


async def test_a_job_socket_refuses_another_jobs_token_and_forgeries():
    mine, other = await queued_summary(), await queued_summary()
    _, connected, code = await job_socket(mine.generation_id, job_token_issue(other.generation_id))
    assert (connected, code) == (False, 4401)
    _, connected, code = await job_socket(mine.generation_id, "forged")
    assert (connected, code) == (False, 4401)
    from chat.tokens import conversation_token_issue

    conversation_token = conversation_token_issue(mine.generation_id)  # another kind of token
    _, connected, code = await job_socket(mine.generation_id, conversation_token)
    assert (connected, code) == (False, 4401)


async def test_it_replays_the_job_from_the_start_then_follows_the_tail():
    summary = await queued_summary()
    stream = streams.StreamWriter(summary.generation_id)
    await database_sync_to_async(streams.stream_progress)(summary.generation_id, 1, 2)
    await database_sync_to_async(stream.delta)("A short ")
    communicator, connected, _ = await job_socket(
        summary.generation_id, job_token_issue(summary.generation_id)
    )
    assert connected
    first = [await communicator.receive_json_from(timeout=5) for _ in range(2)]  # no frame sent
    assert [e["type"] for e in first] == ["generation.progress", "generation.delta"]
    assert (first[0]["done"], first[0]["total"]) == (1, 2)
    await database_sync_to_async(stream.delta)("summary.")
    await database_sync_to_async(stream.done)("done", {}, extra={"method": "model"})
    tail = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    assert [e["type"] for e in tail] == ["generation.delta", "generation.done"]
    assert tail[1]["method"] == "model"
    assert [e["seq"] for e in first + tail] == [1, 2, 3, 4]
    await communicator.disconnect()


async def test_stop_on_the_socket_cancels_the_job():
    summary = await queued_summary()
    communicator, connected, _ = await job_socket(
        summary.generation_id, job_token_issue(summary.generation_id)
    )
    assert connected
    await communicator.send_json_to({"type": "cancel", "generation_id": str(summary.generation_id)})
    event = await communicator.receive_json_from(timeout=5)
    while event["type"] == "generation.queued":
        event = await communicator.receive_json_from(timeout=5)
    assert (event["type"], event["status"]) == ("generation.done", "cancelled")
    await database_sync_to_async(summary.refresh_from_db)()
    assert summary.status == "cancelled"
    await communicator.send_json_to({"type": "user.message", "text": "hi"})
    assert (await communicator.receive_json_from(timeout=5))["code"] == "unknown_type"
    await communicator.disconnect()


async def test_a_settled_job_whose_stream_expired_is_replayed_from_the_database():
    summary = await database_sync_to_async(summary_create)(
        site=await database_sync_to_async(site_default_ensure)(),
        text="One. Two. Three.",
        method="extractive",
    )
    from webapp.redis import redis_sync

    redis_sync().delete(streams.stream_key(summary.generation_id))
    communicator, connected, _ = await job_socket(
        summary.generation_id, job_token_issue(summary.generation_id)
    )
    assert connected
    event = await communicator.receive_json_from(timeout=5)
    assert (event["type"], event["text"], event["method"]) == (
        "generation.done",
        summary.text,
        "extractive",
    )
    await communicator.disconnect()
