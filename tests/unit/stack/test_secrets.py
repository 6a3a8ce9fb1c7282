"""Local secrets: random per name, kept 0600, stable across calls, overridable by environment."""

from __future__ import annotations

import stat

import pytest

from annals.stack.secrets import env_name, secret, secrets_dir
from annals.stack.settings import StackSettings


def test_each_name_gets_its_own_stable_private_secret(tmp_path):
    settings = StackSettings(dir=tmp_path)
    first = secret(settings, "pg-orders_app")
    assert secret(settings, "pg-orders_app") == first
    assert secret(settings, "pg-customers_app") != first
    assert len(first) >= 24
    path = secrets_dir(settings) / "pg-orders_app"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_dir(settings).stat().st_mode) == 0o700


def test_the_environment_wins(tmp_path, monkeypatch):
    settings = StackSettings(dir=tmp_path)
    monkeypatch.setenv(env_name("kafka.relay-orders"), "from-env")
    assert env_name("kafka.relay-orders") == "ANNALS_SECRET_KAFKA_RELAY_ORDERS"
    assert secret(settings, "kafka.relay-orders") == "from-env"
    assert not (secrets_dir(settings) / "kafka.relay-orders").exists()


@pytest.mark.parametrize("name", ["", "../x", "a/b", "A", "x" * 65])
def test_names_that_could_escape_the_folder_are_refused(tmp_path, name):
    with pytest.raises(ValueError):
        secret(StackSettings(dir=tmp_path), name)
