#!/usr/bin/env bash
# Print `export ANNALS_SECRET_PG_<ROLE>=...` for the superuser and every role, from .stack/secrets
# (made there, 0600, when missing), for docker compose: eval "$(deploy/docker/pg-secrets.sh)".
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${PYTHON:-.venv/bin/python}" - <<'PY'
import shlex

from annals.stack.postgres import login_roles
from annals.stack.secrets import env_name, secret
from annals.stack.settings import StackSettings

settings = StackSettings(pg_least_privilege=True)
for role in sorted({settings.pg_superuser, *login_roles()}):
    value = secret(settings, f"pg-{role}")
    print(f"export {env_name(f'pg-{role}')}={shlex.quote(value)}")
PY
