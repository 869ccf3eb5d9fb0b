"""Test settings: the real services of the machine, with names private to this run."""

import os
import tempfile
import uuid

RUN_ID = os.environ.setdefault("HELPLINE_TEST_RUN", uuid.uuid4().hex[:8])
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpline")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("REDIS_KEY_PREFIX", f"helpline-test-{RUN_ID}")
os.environ.setdefault("CELERY_QUEUE_SUFFIX", f"-test-{RUN_ID}")
os.environ.setdefault("INFERENCE_MODEL", "smollm2-135m-instruct")
# Uploads of this run, shared with the worker and web processes it starts.
if "MEDIA_ROOT" not in os.environ:
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix=f"helpline-media-{RUN_ID}-")
os.environ.setdefault("GENERATION_STALE_SECONDS", "3")
os.environ.setdefault("GENERATION_HEARTBEAT_SECONDS", "0.5")
os.environ.setdefault("GENERATION_MAX_TOKENS", "300")
# The 135M test model cannot judge its sources; the check runs with the default model in
# tests/chat/test_answer_check.py.
os.environ.setdefault("KNOWLEDGE_ANSWER_CHECK", "false")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")  # lets the run drop its test database

from webapp.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MIDDLEWARE = [*MIDDLEWARE, "tests.middleware.ContentTypeCacheReset"]  # noqa: F405
