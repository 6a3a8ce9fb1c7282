"""The platform image's Dockerfile (not built here: this machine has no image builder) and
what runs it: its dependencies come from uv.lock alone, it ends as an unprivileged user, and
docker-compose's platform profile and the chart run its `annals` entry point."""

from __future__ import annotations

import yaml

from annals.deploy.chart import CHART
from annals.stack.settings import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text().splitlines()


def instructions(keyword: str) -> list[str]:
    return [line.split(None, 1)[1] for line in DOCKERFILE if line.startswith(keyword + " ")]


def test_multi_stage_from_the_lockfile_and_non_root() -> None:
    assert len(instructions("FROM")) >= 3
    syncs = [line for line in instructions("RUN") if "uv sync" in line]
    assert syncs and all("--locked" in line for line in syncs)
    assert any("uv.lock" in line for line in instructions("COPY"))
    user = instructions("USER")[-1]
    assert user.split(":")[0] not in {"0", "root"}
    assert instructions("ENTRYPOINT") == ['["annals"]']


def test_compose_and_the_chart_run_the_platform_image() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    platform = [s for s in compose["services"].values() if "platform" in s.get("profiles", [])]
    ours = [s for s in platform if s["image"].startswith("annals/")]  # Prometheus's is not
    assert ours and all(s["build"] == "." for s in ours)
    others = [s["image"] for s in platform if s not in ours]
    assert all(image.rpartition(":")[2] not in {"", "latest"} for image in others)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["podSecurityContext"]["runAsUser"] == 10001
    assert "USER 10001:10001" in DOCKERFILE
