"""Database calls from async code, run on a pool of threads.

Channels' default runs every such call on one shared thread; with many sockets that one
thread becomes the queue everything waits in. Our calls share no thread-bound state, so
they may run in parallel, each thread with its own connection.
"""

from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async


def db_async(func: Callable[..., Any]) -> Callable[..., Any]:
    return database_sync_to_async(func, thread_sensitive=False)  # type: ignore[no-any-return]
