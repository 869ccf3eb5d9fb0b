"""Test settings: the real services of the machine, with names private to this run."""

import os
import tempfile
import uuid

RUN_ID = os.environ.setdefault("HELPLINE_TEST_RUN", uuid.uuid4().hex[:8])
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpline")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("REDIS_KEY_PREFIX", f"helpline-test-{RUN_ID}")
# The queues of the worker and web server that live tests start (tests/conftest.py).
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
# Summaries: small chunks, so that a page of text takes the map-reduce path, and short
# outputs for the 135M model.
os.environ.setdefault("SUMMARY_CHUNK_TOKENS", "300")
os.environ.setdefault("SUMMARY_STEP_MAX_TOKENS", "40")
os.environ.setdefault("SUMMARY_MAX_TOKENS", "80")
os.environ.setdefault("SUMMARY_STEP_STALE_SECONDS", "3")
# Limits high enough for the suite's own traffic from one address (tests/sites lowers them).
os.environ.setdefault("CONVERSATIONS_PER_HOUR_PER_ADDRESS", "100000")
os.environ.setdefault("VISITOR_MESSAGES_PER_MINUTE", "1000")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")  # lets the run drop its test database

from webapp import settings as product  # noqa: E402
from webapp.settings import *  # noqa: E402, F403

# Tasks sent by the test process itself go to queues no worker consumes, so that the
# on-commit tasks of a test (an FAQ to embed) never run during a later live test's flush.
# The `worker` fixture points it at the live worker's queues for the test that asks for it;
# the servers the tests start (HELPLINE_TEST_SERVER) always use them.
LIVE_QUEUES = {"CHAT_QUEUE": product.CHAT_QUEUE, "BATCH_QUEUE": product.BATCH_QUEUE}
if not os.environ.get("HELPLINE_TEST_SERVER"):
    CHAT_QUEUE = f"{product.CHAT_QUEUE}-offline"
    BATCH_QUEUE = f"{product.BATCH_QUEUE}-offline"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MIDDLEWARE = [*MIDDLEWARE, "tests.middleware.ContentTypeCacheReset"]  # noqa: F405
