"""Rate limits and quotas, the same for every entry point: a visitor's messages a minute
(per conversation), conversations an hour per client address, and a site's daily message
quota. Counted in Redis (fixed windows); when Redis cannot be reached the request goes on
(the chat cannot run without Redis anyway, and a limit must never lose a message)."""

import logging
import time

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from sites.models import Site
from webapp.redis import redis_key, redis_sync

log = logging.getLogger(__name__)


class LimitReached(Exception):
    """`code`: rate_limited (wait `retry_after` seconds) or quota_exceeded."""

    def __init__(self, code: str, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.code, self.detail, self.retry_after = code, detail, retry_after


def _spend(name: str, key: object, limit: int, window: int) -> int | None:
    """Count one in this window; the seconds until the window ends when over `limit`."""
    if limit <= 0:
        return None
    bucket = int(time.time() // window)
    counter = redis_key("limit", name, key, bucket)
    try:
        client = redis_sync()
        pipe = client.pipeline()
        pipe.incr(counter)
        pipe.expire(counter, window + 5)
        count = int(pipe.execute()[0])
    except RedisError as exc:
        log.warning("limit %s not counted, Redis unreachable: %s", name, exc)
        return None
    if count <= limit:
        return None
    return max(1, int((bucket + 1) * window - time.time()))


def visitor_message_spend(*, site: Site, conversation_id: object) -> None:
    """A visitor's message: within their rate, and within the site's daily quota."""
    wait = _spend("messages", conversation_id, settings.VISITOR_MESSAGES_PER_MINUTE, 60)
    if wait is not None:
        raise LimitReached(
            "rate_limited",
            _("You are sending messages too fast. Please wait %(seconds)s seconds.")
            % {"seconds": wait},
            wait,
        )
    wait = _spend("site-day", site.id, site.daily_message_quota, 86400)
    if wait is not None:
        raise LimitReached(
            "quota_exceeded",
            _("This assistant has answered all the messages it may today. Please come back later."),
            wait,
        )


def client_address(request: HttpRequest) -> str:
    """The caller's address (behind a proxy, the first of X-Forwarded-For when trusted)."""
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return str(request.META.get("REMOTE_ADDR", ""))


def conversation_open_spend(request: HttpRequest) -> None:
    """A new conversation: within the caller address's hourly allowance."""
    limit = settings.CONVERSATIONS_PER_HOUR_PER_ADDRESS
    wait = _spend("conversations", client_address(request), limit, 3600)
    if wait is not None:
        raise LimitReached(
            "rate_limited",
            _("Too many conversations from this address. Please try again later."),
            wait,
        )
