"""An OpenAI-compatible token-replay server, for benchmarks only (never used by the product).

`POST /v1/chat/completions` answers `max_tokens` tokens (default 64) of "tok " after a fixed
time to first token, then at a fixed rate per stream. Every stream keeps its own schedule on
one asyncio loop, so many concurrent streams each get the full rate (as long as the CPU
keeps up). `GET /v1/models` lists the one model, "replay".

    python -m bench.replay_server --port 8011 --tokens-per-second 50 --ttft-ms 20
"""

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL = "replay"
TOKEN = "tok "  # noqa: S105 - a replayed token, not a secret
DEFAULT_MAX_TOKENS = 64


def _prompt_tokens(messages: Any) -> int:
    """A rough count (4 characters a token): the replay does not tokenize."""
    if not isinstance(messages, list):
        return 0
    chars = sum(len(str(m.get("content") or "")) for m in messages if isinstance(m, dict))
    return max(1, chars // 4)


class Replay:
    def __init__(self, tokens_per_second: float, ttft_ms: float) -> None:
        self.interval = 1.0 / tokens_per_second
        self.ttft = ttft_ms / 1000.0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/v1/chat/completions", self.completions, methods=["POST"]),
                Route("/health", self.health, methods=["GET"]),
            ]
        )

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def models(self, request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "bench"}],
            }
        )

    async def completions(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "The body must be JSON.")
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.")
        raw_max = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS
        if not isinstance(raw_max, int) or raw_max < 1:
            return _error(400, "max_tokens must be a positive integer.")
        prompt_tokens = _prompt_tokens(body.get("messages"))
        options = body.get("stream_options") or {}
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        if body.get("stream"):
            return StreamingResponse(
                self._events(raw_max, prompt_tokens, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        await asyncio.sleep(self.ttft + (raw_max - 1) * self.interval)
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": TOKEN * raw_max},
                        "finish_reason": "length",
                    }
                ],
                "usage": _usage(prompt_tokens, raw_max),
            }
        )

    async def _events(
        self, max_tokens: int, prompt_tokens: int, include_usage: bool
    ) -> AsyncIterator[bytes]:
        """Token i leaves at start + ttft + i * interval: an absolute schedule, so a slow
        loop iteration does not slow the rest of the stream down."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        ident = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        head = (
            f'data: {{"id":"{ident}","object":"chat.completion.chunk","created":{created},'
            f'"model":"{MODEL}","choices":['
        )
        for index in range(max_tokens):
            delay = start + self.ttft + index * self.interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            delta = {"content": TOKEN} if index else {"role": "assistant", "content": TOKEN}
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            yield f"{head}{json.dumps(choice)}]}}\n\n".encode()
        final = {"index": 0, "delta": {}, "finish_reason": "length"}
        yield f"{head}{json.dumps(final)}]}}\n\n".encode()
        if include_usage:
            usage = json.dumps(_usage(prompt_tokens, max_tokens))
            yield f'{head}],"usage":{usage}}}\n\n'.encode()
        yield b"data: [DONE]\n\n"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _error(status: int, message: str) -> Response:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "code": None}},
        status_code=status,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--tokens-per-second", type=float, default=50.0)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    if args.tokens_per_second <= 0 or args.ttft_ms < 0:
        parser.error("--tokens-per-second must be > 0 and --ttft-ms >= 0")
    app = Replay(args.tokens_per_second, args.ttft_ms).app()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        backlog=1024,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
