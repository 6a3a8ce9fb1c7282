"""Local credentials: one random secret per name under .stack/secrets, mode 0600, made once.

Every password, SCRAM credential and shared key of the local stack comes from here, so no two
components share a secret by accident and none is a default printed in the repository. An
environment variable `ANNALS_SECRET_<NAME>` (upper case, `-` and `.` as `_`) wins over the file,
which is how compose and production hand secrets in. Values are never logged or printed.
"""

from __future__ import annotations

import os
import re
import secrets as token
from pathlib import Path

from annals.stack.settings import StackSettings

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def secrets_dir(settings: StackSettings) -> Path:
    """The folder holding the stack's secrets (mode 0700); ANNALS_STACK_SECRETS_DIR moves it."""
    return settings.secrets_dir or settings.dir / "secrets"


def env_name(name: str) -> str:
    """The environment variable that overrides secret `name`."""
    return "ANNALS_SECRET_" + re.sub(r"[.-]", "_", name).upper()


def secret(settings: StackSettings, name: str) -> str:
    """The secret called `name`: from the environment, else its file, else made now."""
    if not _NAME.match(name):
        raise ValueError(f"not a secret name: {name!r}")
    given = os.environ.get(env_name(name))
    if given:
        return given
    path = secrets_dir(settings) / name
    if path.exists():
        return path.read_text().strip()
    return _create(path)


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    value = token.token_urlsafe(24)
    # O_EXCL: two processes making the same secret at once agree on the first one written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value
