"""One DSN function: each role's own secret (least privilege on), the shared password (off)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from annals.stack.postgres import scram_verifier
from annals.stack.settings import APP_ROLES, PROJECTOR_ROLES, StackSettings


def test_each_role_gets_its_own_secret_and_the_superuser_too(tmp_path: Path) -> None:
    settings = StackSettings(dir=tmp_path, pg_least_privilege=True, pg_password="shared")
    users = ["postgres", "orders_app", "orders_owner", "orders_projector"]
    dsns = [urlsplit(settings.dsn("orders", None if u == "postgres" else u)) for u in users]
    assert [d.username for d in dsns] == users
    assert len({d.password for d in dsns}) == len(users)
    assert "shared" not in {d.password for d in dsns}
    assert settings.dsn("orders", "orders_app") == settings.dsn("orders", "orders_app")
    assert (tmp_path / "secrets" / "pg-orders_app").stat().st_mode & 0o777 == 0o600


def test_without_least_privilege_every_role_shares_the_old_password(tmp_path: Path) -> None:
    settings = StackSettings(dir=tmp_path, pg_least_privilege=False, pg_password="old")
    assert urlsplit(settings.dsn("orders", "orders_app")).password == "old"
    assert not (tmp_path / "secrets").exists()


def test_projector_roles_connect_only_where_they_write() -> None:
    for database, role in PROJECTOR_ROLES.items():
        assert APP_ROLES[role] == (database,)


def test_scram_verifier_has_postgres_format_and_no_clear_text() -> None:
    verifier = scram_verifier("s3cret-value")
    head, keys = verifier.split("$", 1)[1].split("$")
    assert verifier.startswith("SCRAM-SHA-256$4096:") and ":" in keys and head
    assert "s3cret-value" not in verifier
    assert scram_verifier("s3cret-value") != verifier  # a fresh salt each time
