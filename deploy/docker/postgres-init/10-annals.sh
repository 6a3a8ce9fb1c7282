#!/usr/bin/env bash
# First start of the compose PostgreSQL: the databases and least-privilege roles of docs/architecture.md,
# the same as `annals stack up` creates natively (tests/unit/stack checks they agree).
# Each role's password comes from ANNALS_SECRET_PG_<ROLE> (the variable annals.stack.secrets
# reads too); ANNALS_ROLE_PASSWORD, when set, stands in for the missing ones (throwaway stacks).
set -euo pipefail
pw() {
    local var="ANNALS_SECRET_PG_${1^^}"
    local value="${!var:-${ANNALS_ROLE_PASSWORD:-}}"
    [[ -n "$value" ]] || { echo "set $var (or ANNALS_ROLE_PASSWORD)" >&2; exit 1; }
    printf '%s' "$value"
}
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v orders_owner="$(pw orders_owner)" -v orders_app="$(pw orders_app)" \
    -v customers_owner="$(pw customers_owner)" -v customers_app="$(pw customers_app)" \
    -v shipping_owner="$(pw shipping_owner)" -v shipping_app="$(pw shipping_app)" \
    -v legacy_app="$(pw legacy_app)" -v readmodels_owner="$(pw readmodels_owner)" \
    -v query_app="$(pw query_app)" -v debezium="$(pw debezium)" \
    -v readmodels_projector="$(pw readmodels_projector)" \
    -v orders_projector="$(pw orders_projector)" -v keys_reader="$(pw keys_reader)" \
    -v registry_owner="$(pw registry_owner)" -v registry_app="$(pw registry_app)" <<'SQL'
CREATE ROLE orders_owner LOGIN PASSWORD :'orders_owner';
CREATE ROLE orders_app LOGIN PASSWORD :'orders_app';
CREATE ROLE customers_owner LOGIN PASSWORD :'customers_owner';
CREATE ROLE customers_app LOGIN PASSWORD :'customers_app';
CREATE ROLE shipping_owner LOGIN PASSWORD :'shipping_owner';
CREATE ROLE shipping_app LOGIN PASSWORD :'shipping_app';
CREATE ROLE legacy_app LOGIN PASSWORD :'legacy_app';
CREATE ROLE readmodels_owner LOGIN PASSWORD :'readmodels_owner';
CREATE ROLE query_app LOGIN PASSWORD :'query_app';
CREATE ROLE debezium LOGIN REPLICATION PASSWORD :'debezium';
CREATE ROLE readmodels_projector LOGIN PASSWORD :'readmodels_projector';
CREATE ROLE orders_projector LOGIN PASSWORD :'orders_projector';
CREATE ROLE keys_reader LOGIN PASSWORD :'keys_reader';
CREATE ROLE registry_owner LOGIN PASSWORD :'registry_owner';
CREATE ROLE registry_app LOGIN PASSWORD :'registry_app';
CREATE DATABASE orders OWNER orders_owner;
CREATE DATABASE customers OWNER customers_owner;
CREATE DATABASE shipping OWNER shipping_owner;
CREATE DATABASE legacy_erp OWNER legacy_app;
CREATE DATABASE readmodels OWNER readmodels_owner;
CREATE DATABASE registry OWNER registry_owner;
REVOKE ALL ON DATABASE orders, customers, shipping, legacy_erp, readmodels, registry FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE orders TO orders_owner;
GRANT CONNECT, TEMPORARY ON DATABASE customers TO customers_owner;
GRANT CONNECT, TEMPORARY ON DATABASE shipping TO shipping_owner;
GRANT CONNECT, TEMPORARY ON DATABASE legacy_erp TO legacy_app;
GRANT CONNECT, TEMPORARY ON DATABASE readmodels TO readmodels_owner;
GRANT CONNECT, TEMPORARY ON DATABASE registry TO registry_owner;
GRANT CONNECT ON DATABASE registry TO registry_app;
GRANT CONNECT ON DATABASE orders TO orders_app;
GRANT CONNECT ON DATABASE customers TO customers_app;
GRANT CONNECT ON DATABASE shipping TO shipping_app;
GRANT CONNECT ON DATABASE orders TO customers_app;
GRANT CONNECT ON DATABASE readmodels TO query_app;
GRANT CONNECT ON DATABASE legacy_erp TO debezium;
GRANT CONNECT ON DATABASE readmodels TO readmodels_projector;
GRANT CONNECT ON DATABASE orders TO orders_projector;
GRANT CONNECT ON DATABASE customers TO keys_reader;
GRANT CREATE ON DATABASE readmodels TO readmodels_projector;
GRANT CREATE ON DATABASE orders TO orders_projector;
SQL
