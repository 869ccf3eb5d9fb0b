"""Rate limits and quotas, the same for every entry point: messages a minute per visitor
(a conversation), per address and per site; a site's answers in progress; a site's tokens
a day; conversations an hour per address (off by default). Rates are counted in Redis
(fixed windows); when Redis cannot be reached they fail open and say so in the log (a limit
must never lose a message)."""

import logging
import time
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
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


def visitor_message_spend(*, site: Site, conversation_id: object, address: str = "") -> None:
    """A visitor's well-formed message, counted first (also when it is then refused because
    an answer is being written): the visitor's rate, their address's, the site's, the
    site's answers in progress, and its daily token quota."""
    rates = (
        ("visitor", conversation_id, settings.VISITOR_MESSAGES_PER_MINUTE),
        ("address", address, settings.ADDRESS_MESSAGES_PER_MINUTE if address else 0),
        ("site", site.id, settings.SITE_MESSAGES_PER_MINUTE),
    )
    for name, key, limit in rates:
        wait = _spend(f"messages-{name}", key, limit, 60)
        if wait is not None:
            raise LimitReached(
                "rate_limited",
                _("You are sending messages too fast. Please wait %(seconds)s seconds.")
                % {"seconds": wait},
                wait,
            )
    if settings.SITE_CONCURRENT_GENERATIONS and (
        site_generations_active(site) >= settings.SITE_CONCURRENT_GENERATIONS
    ):
        raise LimitReached(
            "rate_limited",
            _("The assistant is answering many people right now. Please try again shortly."),
            5,
        )
    if site.daily_token_quota and site_tokens_today(site) >= site.daily_token_quota:
        raise LimitReached(
            "quota_exceeded",
            _("This assistant has answered all the messages it may today. Please come back later."),
            _seconds_to_midnight(),
        )


def site_generations_active(site: Site) -> int:
    from chat.models import Generation

    return Generation.objects.filter(
        conversation__site=site,
        status__in=[Generation.Status.QUEUED, Generation.Status.STREAMING],
    ).count()


def site_tokens_today(site: Site) -> int:
    """Tokens (prompt and completion) the site's generations used since midnight (UTC)."""
    from django.db.models import Sum

    from chat.models import Generation

    used = Generation.objects.filter(conversation__site=site, queued_at__gte=_midnight()).aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens")
    )
    return int(used["prompt"] or 0) + int(used["completion"] or 0)


def _midnight() -> datetime:
    """The start of today (UTC), when the daily quotas start again."""
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def _seconds_to_midnight() -> int:
    return max(1, int(86400 - (timezone.now() - _midnight()).total_seconds()))


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
