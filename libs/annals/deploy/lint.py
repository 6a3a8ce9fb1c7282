"""`annals helm lint`: render the chart with each values file and validate every object offline.

helm renders (`helm template`), kubeconform validates against the schemas fetch.sh built under
.stack/tools/k8s-schemas (Kubernetes' and the Strimzi and CloudNativePG CRDs'), strictly and
with no schema missing: an object of an unknown kind fails.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from annals.deploy import k8s_schemas
from annals.deploy.chart import CHART
from annals.stack.settings import REPO_ROOT

TOOLS = REPO_ROOT / ".stack" / "tools"
HELM = TOOLS / "bin" / "helm"
KUBECONFORM = TOOLS / "bin" / "kubeconform"
SCHEMAS = TOOLS / "k8s-schemas"
FETCH = REPO_ROOT / "deploy" / "helm" / "schemas" / "fetch.sh"
# Each values file is checked on its own over the chart's defaults (values.yaml).
VALUES = ("values.yaml", "values-dev.yaml", "values-prod.yaml")
RELEASE = "annals"


@dataclass(frozen=True)
class Checked:
    """The outcome of one values file: kubeconform's summary line and whether it passed."""

    values: str
    ok: bool
    report: str


def missing_tools() -> list[str]:
    """What fetch.sh has not built yet."""
    wanted = {"helm": HELM, "kubeconform": KUBECONFORM, "schemas": SCHEMAS}
    return [name for name, path in wanted.items() if not path.exists()]


def render(*values: str, sets: tuple[str, ...] = ()) -> str:
    """The chart rendered (`helm template`) with these values files of the chart and --set's."""
    args = [str(HELM), "template", RELEASE, str(CHART), "--namespace", "annals"]
    for name in values:
        args += ["-f", str(CHART / name)]
    for item in sets:
        args += ["--set", item]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"helm template {' '.join(values)} failed:\n{done.stderr.strip()}")
    return done.stdout


def validate(manifests: str) -> tuple[bool, str]:
    """kubeconform over rendered manifests: (passed, its report)."""
    args = [str(KUBECONFORM), "-strict", "-summary", "-kubernetes-version",
            k8s_schemas.KUBERNETES_VERSION]  # fmt: skip
    for location in k8s_schemas.locations(SCHEMAS):
        args += ["-schema-location", location]
    done = subprocess.run(args, input=manifests, capture_output=True, text=True, check=False)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def check(values: str) -> Checked:
    """Render with one values file and validate."""
    ok, report = validate(render(values))
    return Checked(values, ok, report)


def check_all() -> list[Checked]:
    """Every values file of the chart, rendered and validated."""
    return [check(values) for values in VALUES]


def helm_lint() -> tuple[bool, str]:
    """`helm lint --strict` of the chart."""
    args = [str(HELM), "lint", "--strict", str(CHART)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    return done.returncode == 0, (done.stdout + done.stderr).strip()
