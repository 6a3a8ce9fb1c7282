"""PostgreSQL 15 of the local stack: initdb once, start, bootstrap databases and roles, stop."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import pwd
import shutil
import subprocess
from collections.abc import Collection
from pathlib import Path

import asyncpg

from annals.stack.errors import StackError
from annals.stack.procs import ensure_port_free, port_open, tail
from annals.stack.settings import (
    APP_ROLES,
    DATABASE_OWNERS,
    PROJECTOR_ROLES,
    REPLICATION_ROLES,
    StackSettings,
)

NAME = "postgres"
PG_MAJOR = "15"
RUN_AS = "postgres"  # PostgreSQL refuses to run as root; as root we run it as this user.


# Where the data goes when user `postgres` cannot reach .stack/ (a checkout under /root, say):
# .stack/pg and .stack/logs/postgres.log then are symlinks into this folder.
OUTSIDE_HOME = Path("/var/tmp/annals-postgres")


def data_dir(settings: StackSettings) -> Path:
    """The cluster's data directory: .stack/pg (or where that symlink points)."""
    link = settings.dir / "pg"
    return link.resolve() if link.is_symlink() else link


def server_log(settings: StackSettings) -> Path:
    """The server's log file: .stack/logs/postgres.log (or where that symlink points)."""
    link = settings.log(NAME)
    return link.resolve() if link.is_symlink() else link


def _prepare_home(settings: StackSettings) -> Path:
    """A folder the server user can reach for the cluster, its log and the password file."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    if _server_user_reaches(settings.dir):
        return settings.dir
    digest = hashlib.sha256(str(settings.dir.resolve()).encode()).hexdigest()[:12]
    home = OUTSIDE_HOME / digest
    home.mkdir(parents=True, exist_ok=True)
    for folder in (OUTSIDE_HOME, home):
        folder.chmod(0o755)
    (settings.dir / "pg").symlink_to(home / "pg")
    settings.log(NAME).unlink(missing_ok=True)
    settings.log(NAME).symlink_to(home / "postgres.log")
    return home


def _server_user_reaches(folder: Path) -> bool:
    if os.geteuid() != 0:
        return True
    check = ["runuser", "-u", RUN_AS, "--", "test", "-x", str(folder)]
    return subprocess.run(check, check=False).returncode == 0


def wipe_outside_home(settings: StackSettings) -> None:
    """Delete the data kept outside .stack/ for this stack, if any (used by reset)."""
    link = settings.dir / "pg"
    if link.is_symlink() and link.resolve().parent.parent == OUTSIDE_HOME:
        shutil.rmtree(link.resolve().parent, ignore_errors=True)


def bin_dir(settings: StackSettings) -> Path:
    """Folder of PostgreSQL 15's server binaries (initdb, pg_ctl)."""
    candidates = [settings.pg_bin] if settings.pg_bin else []
    candidates.append(Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"))
    for folder in candidates:
        if folder and (folder / "pg_ctl").exists() and (folder / "initdb").exists():
            return folder
    raise StackError(
        NAME,
        f"PostgreSQL {PG_MAJOR} server binaries not found (looked in {candidates})",
        "run `make up` (installs Debian's postgresql-15) or set ANNALS_STACK_PG_BIN",
    )


def _as_server_user(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", RUN_AS, "--", *args]


def _give_to_server_user(*paths: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(RUN_AS)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def is_running(settings: StackSettings) -> bool:
    """True when the cluster in .stack/pg has a live postmaster."""
    if not (data_dir(settings) / "postmaster.pid").exists():
        return False
    done = subprocess.run(
        _as_server_user(
            [str(bin_dir(settings) / "pg_ctl"), "status", "-D", str(data_dir(settings))]
        ),
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def pid(settings: StackSettings) -> int | None:
    """The postmaster's pid, from postmaster.pid, when running."""
    try:
        return int((data_dir(settings) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def check_data_dir(settings: StackSettings) -> bool:
    """True when .stack/pg holds a PostgreSQL 15 cluster, False when absent; fail when broken."""
    folder = data_dir(settings)
    if not folder.exists() or not any(folder.iterdir()):
        return False
    version_file = folder / "PG_VERSION"
    version = version_file.read_text().strip() if version_file.exists() else None
    if version != PG_MAJOR or not (folder / "global" / "pg_control").exists():
        found = f"PG_VERSION {version}" if version else "no PG_VERSION file"
        raise StackError(
            NAME,
            f"{folder} is not a usable PostgreSQL {PG_MAJOR} data directory ({found})",
            "move it away to keep it, or wipe all stack data with `annals stack reset`",
        )
    return True


def initdb(settings: StackSettings) -> None:
    """Create the cluster with scram passwords for TCP, as the server user."""
    home = _prepare_home(settings)
    folder = data_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    pwfile = home / ".pg.pwfile"
    pwfile.write_text(settings.pg_password_of() + "\n")
    pwfile.chmod(0o600)
    _give_to_server_user(folder, pwfile)
    try:
        done = subprocess.run(
            _as_server_user([
                str(bin_dir(settings) / "initdb"), "-D", str(folder), "-U", settings.pg_superuser,
                f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=peer",
                "--encoding=UTF8", "--locale=C.UTF-8",
            ]),
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        log = settings.log("postgres-initdb")
        log.write_text(done.stdout + done.stderr)
        raise StackError(NAME, f"initdb failed (exit {done.returncode})", f"see {log}")
    with open(folder / "postgresql.conf", "a") as conf:
        conf.write("\ninclude_if_exists = 'annals.conf'\n")


def write_config(settings: StackSettings) -> None:
    """(Re)write annals.conf: address, port, logical WAL, sizes for a 2-core machine."""
    conf = data_dir(settings) / "annals.conf"
    conf.write_text(
        "# written by `annals stack up`; edit StackSettings instead\n"
        f"listen_addresses = '{settings.host}'\n"
        f"port = {settings.pg_port}\n"
        "unix_socket_directories = ''\n"
        "wal_level = logical\n"
        "max_wal_senders = 20\n"
        "max_replication_slots = 20\n"
        "max_connections = 300\n"
        f"shared_buffers = {settings.pg_shared_buffers}\n"
        "max_wal_size = 4GB\n"
        "checkpoint_timeout = 15min\n"
        "log_min_duration_statement = 2000\n"
        "log_line_prefix = '%m [%p] %q%u@%d '\n"
        "# bind parameters (keys, personal data) never reach the server log\n"
        "log_parameter_max_length = 0\n"
        "log_parameter_max_length_on_error = 0\n"
        "log_file_mode = 0600\n"
    )
    _give_to_server_user(conf)


def start(settings: StackSettings) -> None:
    """Start the cluster with pg_ctl (it daemonizes itself) and wait until it accepts."""
    ensure_port_free(NAME, settings.host, settings.pg_port, "ANNALS_STACK_PG_PORT")
    log = server_log(settings)
    log.touch()
    log.chmod(0o600)  # pg_ctl -l appends to this file; log_file_mode covers the collector's
    _give_to_server_user(log)
    done = subprocess.run(
        _as_server_user([
            str(bin_dir(settings) / "pg_ctl"), "start", "-D", str(data_dir(settings)),
            "-l", str(log), "-w", "-t", str(int(settings.start_timeout)),
        ]),
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise StackError(
            NAME,
            f"did not start (pg_ctl exit {done.returncode}): {_last_error(log)}",
            f"see {log}",
        )


def _last_error(log: Path) -> str:
    lines = [line for line in tail(log, 40).splitlines() if "FATAL" in line or "ERROR" in line]
    return lines[-1].strip() if lines else "no error in the log"


def stop(settings: StackSettings) -> bool:
    """Stop the cluster (fast shutdown); True when it was running."""
    if not is_running(settings):
        return False
    subprocess.run(
        _as_server_user([
            str(bin_dir(settings) / "pg_ctl"), "stop", "-D", str(data_dir(settings)),
            "-m", "fast", "-w", "-t", "60",
        ]),
        capture_output=True,
        check=False,
    )  # fmt: skip
    return True


def healthy(settings: StackSettings) -> bool:
    """True when the server answers a query as the superuser."""
    if not port_open(settings.host, settings.pg_port):
        return False
    try:
        return asyncio.run(_select_one(settings.dsn()))
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False


async def _select_one(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


def bootstrap(settings: StackSettings, databases: Collection[str] | None = None) -> None:
    """Create (or bring up to date) the databases and least-privilege roles of docs/architecture.md
    (of this server: `databases`, all by default; every login role exists on every server)."""
    asyncio.run(_bootstrap(settings, databases))


async def _bootstrap(settings: StackSettings, only: Collection[str] | None = None) -> None:
    here = set(DATABASE_OWNERS) if only is None else set(only)
    conn = await _superuser(settings)
    try:
        # A cluster started by an older version picks up the logging settings without a restart.
        write_config(settings)
        await conn.execute("SELECT pg_reload_conf()")
        if server_log(settings).exists():
            server_log(settings).chmod(0o600)
        for role in sorted(login_roles()):
            password = settings.pg_password_of(role)
            await _ensure_role(conn, role, password, role in REPLICATION_ROLES)
        for database, owner in DATABASE_OWNERS.items():
            if database not in here:
                continue
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{database}" OWNER "{owner}"')
            await conn.execute(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC')
            await conn.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{owner}"')
        for role, databases in APP_ROLES.items():
            for database in here.intersection(databases):
                await conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
        for database, role in PROJECTOR_ROLES.items():
            if database in here:
                await conn.execute(f'GRANT CREATE ON DATABASE "{database}" TO "{role}"')
        # The CDC role connects to a service's database only while an outbox connector runs
        # there: `annals connectors apply` grants that, a stack up revokes a stale grant.
        for role in REPLICATION_ROLES:
            for database in sorted(here.difference(APP_ROLES.get(role, ()))):
                await conn.execute(f'REVOKE CONNECT ON DATABASE "{database}" FROM "{role}"')
    finally:
        await conn.close()
    if settings.pg_least_privilege:
        for database in here.intersection(PROJECTOR_ROLES):
            await hand_projections_to_projector(settings, database)


# Projection schemas a database owner made before the projector had its own role: the registry,
# every version schema it lists, and every view schema (it holds a `<projection>__version` view).
PROJECTION_SCHEMAS = r"""
SELECT n.nspname FROM pg_namespace n
 WHERE pg_get_userbyid(n.nspowner) = $1
   AND (n.nspname = 'projections' OR n.nspname = ANY($2::text[])
        OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind = 'v'
                      AND c.relname LIKE '%\_\_version'))
"""
HAND_OVER = """
DO $do$ DECLARE r record; BEGIN
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', {schema}, {role});
    FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = {schema} AND c.relkind IN ('r', 'v', 'm', 'p', 'f') LOOP
        EXECUTE format('ALTER TABLE %I.%I OWNER TO %I', {schema}, r.relname, {role});
    END LOOP;
END $do$
"""


async def hand_projections_to_projector(settings: StackSettings, database: str) -> list[str]:
    """Give the projection schemas an owner made (older clusters) to the projector's role."""
    conn = await asyncpg.connect(settings.dsn(database), timeout=10)
    try:
        listed: list[str] = []
        if await conn.fetchval("SELECT to_regclass('projections.versions') IS NOT NULL"):
            listed = [
                r[0] for r in await conn.fetch("SELECT schema_name FROM projections.versions")
            ]
        owner, role = DATABASE_OWNERS[database], PROJECTOR_ROLES[database]
        rows = await conn.fetch(PROJECTION_SCHEMAS, owner, listed)
        for (schema,) in rows:
            literal = "'" + schema.replace("'", "''") + "'"
            await conn.execute(HAND_OVER.format(schema=literal, role=f"'{role}'"))
        return [r[0] for r in rows]
    finally:
        await conn.close()


def login_roles() -> set[str]:
    """Every login role the stack creates (the superuser aside)."""
    return {*DATABASE_OWNERS.values(), *APP_ROLES}


async def _superuser(settings: StackSettings) -> asyncpg.Connection:
    """The superuser's connection; a cluster on the old shared password moves to its secret."""
    try:
        return await asyncpg.connect(settings.dsn(), timeout=10)
    except asyncpg.InvalidPasswordError:
        if not settings.pg_least_privilege:
            raise
    old = settings.model_copy(update={"pg_least_privilege": False})
    conn = await asyncpg.connect(old.dsn(), timeout=10)
    await _set_password(conn, settings.pg_superuser, settings.pg_password_of())
    return conn


async def _ensure_role(
    conn: asyncpg.Connection, role: str, password: str, replication: bool
) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if exists else "CREATE"
    options = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE " + (
        "REPLICATION" if replication else "NOREPLICATION"
    )
    await conn.execute(f'{verb} ROLE "{role}" WITH {options}')
    await _set_password(conn, role, password)


async def _set_password(conn: asyncpg.Connection, role: str, password: str) -> None:
    """Set a role's password without the clear text in the server log (hashed client side)."""
    verifier = scram_verifier(password)
    await conn.execute(f"ALTER ROLE \"{role}\" WITH PASSWORD '{verifier}'")


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of `password` (what ALTER ROLE ... PASSWORD stores)."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = [base64.b64encode(part).decode() for part in (salt, stored_key, server_key)]
    return f"SCRAM-SHA-256${iterations}:{b64[0]}${b64[1]}:{b64[2]}"


def installed() -> bool:
    """True when Debian's PostgreSQL 15 server binaries are present."""
    return Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin/initdb").exists() or bool(
        shutil.which("initdb")
    )
