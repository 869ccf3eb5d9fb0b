"""What the logs may not keep: visitor and job tokens (they ride in socket URLs)."""

import logging
import re

_TOKEN = re.compile(r"((?:[?&]|\b)token=)[^&\s\"']+")


def tokens_redacted(text: str) -> str:
    return _TOKEN.sub(r"\1[redacted]", text)


class TokenRedaction(logging.Filter):
    """Every record's message with `token=...` values replaced (daphne's own access log
    writes paths without their query; this covers the rest: Django, Channels, the app)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = tokens_redacted(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
