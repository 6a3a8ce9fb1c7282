"""`annals new`: a service or a projection made from the templates in this package (copier).

The templates (templates/service, templates/projection) are copier projects: files ending in
`.jinja` are rendered with the answers (name, package, ...) and the paths are templated too.
A generated service or projection comes with its declaration and its own unit tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

TEMPLATES = Path(__file__).parent / "templates"
Kind = Literal["service", "projection"]


def template(kind: Kind) -> Path:
    """The copier template of a kind."""
    return TEMPLATES / kind


def generate(kind: Kind, name: str, into: Path, answers: Mapping[str, Any] | None = None) -> Path:
    """Render the template of `kind` named `name` into the project at `into`; the folder."""
    from copier import run_copy

    data = {"name": name, **(answers or {})}
    before = _python_files(into)
    run_copy(
        str(template(kind)),
        str(into),
        data=data,
        defaults=True,
        overwrite=False,
        quiet=True,
        unsafe=False,
    )
    tidy(sorted(_python_files(into) - before), into)
    return into


def _python_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*.py") if ".venv" not in p.parts} if root.exists() else set()


def ruff() -> str | None:
    """The ruff next to this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name("ruff")
    return str(beside) if beside.exists() else shutil.which("ruff")


def tidy(paths: list[Path], project: Path) -> None:
    """Sort imports and format generated files (long names make long lines) as the project's
    ruff settings say (its pyproject.toml, else those of Annals)."""
    tool = ruff()
    files = [str(p) for p in paths if p.suffix == ".py" and p.exists()]
    if tool is None or not files:
        return
    config = project / "pyproject.toml"
    if not config.exists():
        config = TEMPLATES.parents[3] / "pyproject.toml"
    options = ["--config", str(config)] if config.exists() else []
    subprocess.run([tool, "check", *options, "--fix", "--select", "I", "-q", *files], check=False)
    subprocess.run([tool, "format", *options, "-q", *files], check=False)
