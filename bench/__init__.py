"""Benchmarks. Nothing here is imported by the product."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scratch_django(name: str) -> None:
    """Django set up for an in-process bench: a fresh SQLite database in a temporary folder
    (unless DATABASE_URL is set), migrated; Redis keys and queues of its own (no worker
    takes its tasks)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    os.environ.setdefault("REDIS_KEY_PREFIX", f"helpline-bench-{name}")
    os.environ.setdefault("CELERY_QUEUE_SUFFIX", f"-bench-{name}")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
