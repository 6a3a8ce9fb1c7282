#!/usr/bin/env bash
# First start of the compose PostgreSQL: the databases and least-privilege roles of DESIGN §2,
# the same as `annals stack up` creates natively (tests/unit/stack checks they agree).
set -euo pipefail
password="${ANNALS_ROLE_PASSWORD:?set ANNALS_ROLE_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -v pw="$password" <<'SQL'
CREATE ROLE orders_owner LOGIN PASSWORD :'pw';
CREATE ROLE orders_app LOGIN PASSWORD :'pw';
CREATE ROLE customers_owner LOGIN PASSWORD :'pw';
CREATE ROLE customers_app LOGIN PASSWORD :'pw';
CREATE ROLE legacy_app LOGIN PASSWORD :'pw';
CREATE ROLE readmodels_owner LOGIN PASSWORD :'pw';
CREATE ROLE query_app LOGIN PASSWORD :'pw';
CREATE ROLE debezium LOGIN REPLICATION PASSWORD :'pw';
CREATE DATABASE orders OWNER orders_owner;
CREATE DATABASE customers OWNER customers_owner;
CREATE DATABASE legacy_erp OWNER legacy_app;
CREATE DATABASE readmodels OWNER readmodels_owner;
REVOKE ALL ON DATABASE orders, customers, legacy_erp, readmodels FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE orders TO orders_owner;
GRANT CONNECT, TEMPORARY ON DATABASE customers TO customers_owner;
GRANT CONNECT, TEMPORARY ON DATABASE legacy_erp TO legacy_app;
GRANT CONNECT, TEMPORARY ON DATABASE readmodels TO readmodels_owner;
GRANT CONNECT ON DATABASE orders TO orders_app;
GRANT CONNECT ON DATABASE customers TO customers_app;
GRANT CONNECT ON DATABASE orders TO customers_app;
GRANT CONNECT ON DATABASE readmodels TO query_app;
GRANT CONNECT ON DATABASE legacy_erp TO debezium;
GRANT CONNECT ON DATABASE orders TO debezium;
GRANT CONNECT ON DATABASE customers TO debezium;
SQL
