"""Token coalescing: many small deltas become few stream entries."""

import time
from collections.abc import Callable


class Coalescer:
    """Buffers deltas and says when to flush: the first at once, then every `interval_ms`
    or `max_pieces` deltas, whichever comes first."""

    def __init__(
        self,
        interval_ms: int,
        max_pieces: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval_ms / 1000
        self.max_pieces = max_pieces
        self.clock = clock
        self._parts: list[str] = []
        self._last_flush: float | None = None

    def push(self, text: str) -> str | None:
        """Add a delta; return the text to flush now, or None to keep buffering."""
        if text:
            self._parts.append(text)
        if not self._parts:
            return None
        now = self.clock()
        first = self._last_flush is None
        if first or len(self._parts) >= self.max_pieces or now - self._last_flush >= self.interval:  # type: ignore[operator]
            return self._take(now)
        return None

    def flush(self) -> str:
        """Whatever is buffered, at the end of a stream."""
        return self._take(self.clock()) if self._parts else ""

    def _take(self, now: float) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        self._last_flush = now
        return text
