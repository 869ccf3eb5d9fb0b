"""The secret key: from the environment, else a key file generated once and shared.

`make run`, `manage.py` commands and the workers each import the settings; the first of
them to find no key file creates it, and the others read the same key. No `.env` needed.
"""

import contextlib
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# Keys that shipped as defaults or examples: fine for a local run in DEBUG, never otherwise.
KNOWN_PLACEHOLDERS = frozenset(
    {
        "dev-only-insecure-key-change-me-in-production",
        "change-me-insecure-placeholder",
        "change-me",
    }
)


def secret_key_file(path: Path) -> str:
    """The key stored at `path`, created there (mode 0600) if it does not exist yet.

    The key is written to a private temporary file and linked into place, so a process
    racing with another either wins and writes it or reads the winner's whole key."""
    with contextlib.suppress(FileNotFoundError):
        return _key_read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(50) + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process was first: use its key
    finally:
        temporary.unlink()
    return _key_read(path)


def _key_read(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"The secret key file {path} is empty: delete it.")
    return key


def secret_key_resolve(*, configured: str, key_file: Path, debug: bool) -> str:
    """SECRET_KEY from the environment wins; a known placeholder is refused unless DEBUG."""
    key = configured or secret_key_file(key_file)
    if not debug and key in KNOWN_PLACEHOLDERS:
        raise ImproperlyConfigured(
            "SECRET_KEY is a published placeholder: unset it (a key is generated) or set a "
            "long random value."
        )
    return key
