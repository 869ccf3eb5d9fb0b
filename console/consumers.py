"""The console's socket: an agent's session hears their sites' inbox change, and keeps
them online (presence) while it is open."""

import contextlib
from typing import Any

from redis.exceptions import RedisError

from chat.consumers import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORIZED,
    SocketConsumer,
    same_origin,
    socket_language,
)
from chat.events import FrameError, field_str
from console.handoff import agent_seen, console_group
from console.selectors import agent_sites, is_agent
from webapp.db import db_async


class ConsoleConsumer(SocketConsumer):
    """`inbox.changed {conversation_id}` out; `ping` (every 20 s: still online) and
    `presence {presence: online|away}` in."""

    client_events = ("ping", "presence")
    groups_joined: list[str]

    async def connect(self) -> None:
        self.language = socket_language(self.scope)
        self.groups_joined = []
        user = self.scope.get("user")
        if not await db_async(is_agent)(user):
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        if not same_origin(self.scope):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        site_ids = await db_async(lambda: list(agent_sites(user).values_list("id", flat=True)))()
        for site_id in site_ids:
            group = console_group(site_id)
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        await self.accept()
        await db_async(agent_seen)(user=user)

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        for group in self.groups_joined:
            with contextlib.suppress(RedisError):
                await self.channel_layer.group_discard(group, self.channel_name)

    async def on_ping(self, event: dict[str, Any]) -> None:
        await db_async(agent_seen)(user=self.scope["user"])
        await self.send_json({"type": "pong"})

    async def on_presence(self, event: dict[str, Any]) -> None:
        presence = field_str(event, "presence", max_len=16)
        if presence not in ("online", "away"):
            raise FrameError("invalid_field", "'presence' is online or away.")
        await db_async(agent_seen)(user=self.scope["user"], presence=presence)
        await self.send_json({"type": "presence", "presence": presence})

    async def inbox_changed(self, event: dict[str, Any]) -> None:
        await self.send_json(dict(event))
