"""The secret key: generated once and shared by every process, placeholders refused."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from webapp.secret import secret_key_resolve

ROOT = Path(__file__).resolve().parent.parent.parent
READ_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def settings_key(data_dir: Path, **env: str) -> subprocess.Popen[str]:
    """A fresh process that imports the product's settings and prints SECRET_KEY."""
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    return subprocess.Popen(
        [sys.executable, "-c", f"import django; django.setup(); {READ_KEY}"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "webapp.settings", "DATA_DIR": str(data_dir)} | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_processes_started_together_agree_on_one_generated_key(tmp_path):
    processes = [settings_key(tmp_path) for _ in range(4)]
    keys = {p.communicate(timeout=60)[0].strip() for p in processes}
    assert len(keys) == 1
    (key,) = keys
    assert len(key) >= 50
    assert (tmp_path / "secret_key").read_text().strip() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by its owner only
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left
    again = settings_key(tmp_path).communicate(timeout=60)[0].strip()
    assert again == key  # a later process (a restart) keeps it: sessions and tokens survive


def test_a_key_in_the_environment_wins(tmp_path):
    out = settings_key(tmp_path, SECRET_KEY="k" * 60).communicate(timeout=60)[0].strip()
    assert out == "k" * 60
    assert not (tmp_path / "secret_key").exists()


def test_the_published_placeholder_is_refused_unless_debug(tmp_path):
    placeholder = "dev-only-insecure-key-change-me-in-production"
    refused = settings_key(tmp_path, SECRET_KEY=placeholder, DEBUG="false")
    _, err = refused.communicate(timeout=60)
    assert refused.returncode != 0
    assert "ImproperlyConfigured" in err and "placeholder" in err
    debug = settings_key(tmp_path, SECRET_KEY=placeholder, DEBUG="true")
    assert debug.communicate(timeout=60)[0].strip() == placeholder


def test_an_empty_key_file_is_an_error_not_an_empty_key(tmp_path):
    (tmp_path / "secret_key").write_text("\n")
    with pytest.raises(ImproperlyConfigured):
        secret_key_resolve(configured="", key_file=tmp_path / "secret_key", debug=True)
