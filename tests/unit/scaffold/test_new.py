"""`annals new service demo-x` and `annals new projection`: what they make passes its own tests
and the lint `make lint` runs (ruff, mypy, import contracts), in a project of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from annals.stack.settings import REPO_ROOT

BIN = Path(sys.executable).parent
CONFIG = REPO_ROOT / "pyproject.toml"
CONTRACTS = """\
[importlinter]
root_packages =
    annals
    demo_x
include_external_packages = True

[importlinter:contract:library]
name = the library imports no service package
type = forbidden
source_modules = annals
forbidden_modules = demo_x

[importlinter:contract:domain]
name = a domain package imports no web, database or Kafka framework
type = forbidden
source_modules = demo_x.domain
forbidden_modules =
    fastapi
    sqlalchemy
    asyncpg
    aiokafka

[importlinter:contract:handlers]
name = service handlers are typed against ports, not the PostgreSQL adapters
type = forbidden
source_modules = demo_x.service_layer.handlers
forbidden_modules =
    annals.eventstore.postgres
    annals.eventstore.database
"""


def run(project: Path, *command: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(project / "services"), "ANNALS_DEV_MODE": "1"}
    env["MYPYPATH"] = env["PYTHONPATH"]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("made")
    run(root, str(BIN / "annals"), "new", "service", "demo-x", "--into", str(root))
    run(root, str(BIN / "annals"), "new", "projection", "demo_count", "--into", str(root))
    # A project of its own: its projector package (in this repository `projector` has one).
    (root / "services" / "projector" / "__init__.py").write_text('"""Projections."""\n')
    (root / ".importlinter").write_text(CONTRACTS)
    return root


def test_it_makes_a_declared_service_with_tests(project: Path) -> None:
    package = project / "services" / "demo_x"
    for part in ("declaration.py", "domain/aggregate.py", "service_layer/handlers.py",
                 "entrypoints/routes.py", "entrypoints/app.py", "README.md"):  # fmt: skip
        assert (package / part).is_file(), part
    assert 'name="demo-x"' in (package / "declaration.py").read_text()
    tests = {p.name for p in (project / "tests" / "unit" / "demo_x_service").iterdir()}
    assert {"test_decide.py", "test_handlers.py", "test_declaration.py"} <= tests


def test_what_it_makes_passes_its_own_tests(project: Path) -> None:
    run(project, str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
        "--rootdir", str(project), "tests")  # fmt: skip


def test_what_it_makes_passes_the_lint(project: Path) -> None:
    code = ["services", "tests"]
    run(project, str(BIN / "ruff"), "check", "--config", str(CONFIG), *code)
    run(project, str(BIN / "ruff"), "format", "--check", "--config", str(CONFIG), *code)
    run(project, str(BIN / "mypy"), "--config-file", str(CONFIG), "--cache-dir",
        str(REPO_ROOT / ".mypy_cache"), "services/demo_x", "services/projector")  # fmt: skip
    run(project, str(BIN / "lint-imports"), "--config", ".importlinter", "--no-cache")


def test_the_aggregate_kind_may_differ_from_the_service(tmp_path: Path) -> None:
    run(tmp_path, str(BIN / "annals"), "new", "service", "demo-y", "--kind", "parcel",
        "--into", str(tmp_path))  # fmt: skip
    aggregate = (tmp_path / "services" / "demo_y" / "domain" / "aggregate.py").read_text()
    assert 'KIND = "parcel"' in aggregate and "class Parcel(" in aggregate
    assert "parcel_id" in (tmp_path / "services" / "demo_y" / "domain" / "events.py").read_text()


def test_it_refuses_a_name_it_cannot_make(tmp_path: Path) -> None:
    done = subprocess.run([str(BIN / "annals"), "new", "service", "Bad_Name", "--into",
                           str(tmp_path)], capture_output=True, text=True)  # fmt: skip
    assert done.returncode != 0
