#!/usr/bin/env bash
# Print the `export ...` lines docker-compose.yml's Kafka and Connect need, from .stack/secrets
# (made there, 0600, when missing) and the declared topology: every Kafka principal's password
# (ANNALS_SECRET_KAFKA_<P>: the broker's, admin's, Connect's, the relays' and the projector's),
# Connect's REST user's (connect-admin), every principal's SCRAM credential (ANNALS_KAFKA_USERS) and the ACLs
# (ANNALS_KAFKA_ACLS) that the one-shot kafka-setup service creates:
#   eval "$(deploy/docker/pg-secrets.sh)" && eval "$(deploy/docker/kafka-secrets.sh)"
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${PYTHON:-.venv/bin/python}" - <<'PY'
import shlex

from annals.stack import kafka_compose
from annals.stack.kafka_auth import password, principals
from annals.stack.secrets import env_name, secret
from annals.stack.settings import StackSettings

settings = StackSettings(kafka_auth="scram")
for user in ("controller", *principals(settings)):
    print(f"export {env_name(f'kafka-{user}')}={shlex.quote(password(settings, user))}")
print(f"export {env_name('connect-admin')}={shlex.quote(secret(settings, 'connect-admin'))}")
print(f"export ANNALS_KAFKA_USERS={shlex.quote(kafka_compose.users(settings))}")
print(f"export ANNALS_KAFKA_ACLS={shlex.quote(kafka_compose.acl_lines(settings))}")
PY
