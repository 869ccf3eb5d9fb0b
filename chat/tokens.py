"""Signed conversation tokens: each one opens exactly one conversation, for a limited time."""

import uuid

from django.conf import settings
from django.core import signing

_SALT = "chat.conversation"


def conversation_token_issue(conversation_id: uuid.UUID) -> str:
    return signing.dumps({"c": str(conversation_id)}, salt=_SALT, compress=False)


def conversation_token_read(token: str) -> uuid.UUID | None:
    """The conversation a token opens, or None when forged, malformed or expired."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=settings.CONVERSATION_TOKEN_MAX_AGE)
        return uuid.UUID(payload["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


_JOB_SALT = "chat.job"


def job_token_issue(generation_id: uuid.UUID) -> str:
    """A token that opens the socket of one job (a summary, a translation), nothing else."""
    return signing.dumps({"g": str(generation_id)}, salt=_JOB_SALT, compress=False)


def job_token_read(token: str) -> uuid.UUID | None:
    """The generation a job token opens, or None when forged, malformed or expired."""
    try:
        payload = signing.loads(token, salt=_JOB_SALT, max_age=settings.CONVERSATION_TOKEN_MAX_AGE)
        return uuid.UUID(payload["g"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def job_ws_path(generation_id: uuid.UUID) -> str:
    return f"/ws/jobs/{generation_id}/?token={job_token_issue(generation_id)}"
