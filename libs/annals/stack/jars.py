"""Resolve the broker, Connect, Debezium and JMX exporter jars from Maven Central into separate
folders."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from annals.stack.errors import StackError
from annals.stack.settings import StackSettings

STAMP = ".resolved"


@dataclass(frozen=True)
class JarSet:
    """One folder of jars and the pom (plus properties) that fills it."""

    name: str
    pom: str
    target: Path
    properties: dict[str, str]
    exclude_groups: tuple[str, ...] = ()
    exclude_artifacts: tuple[str, ...] = ()

    def fingerprint(self, pom_path: Path) -> str:
        """Hash of the pom and properties: a change re-resolves, nothing else does."""
        digest = hashlib.sha256(pom_path.read_bytes())
        for key, value in sorted(self.properties.items()):
            digest.update(f"{key}={value}".encode())
        digest.update(",".join(self.exclude_groups + self.exclude_artifacts).encode())
        return digest.hexdigest()


def jar_sets(settings: StackSettings) -> list[JarSet]:
    """The three folders of docs/architecture.md (broker, Connect worker, Debezium plugin) and
    the JMX exporter agent Connect runs with."""
    kafka = {"kafka.version": settings.kafka_version}
    return [
        JarSet("kafka", "kafka.pom.xml", settings.jars_dir / "kafka", kafka),
        JarSet("connect", "connect.pom.xml", settings.jars_dir / "connect", kafka),
        JarSet(
            "debezium",
            "debezium.pom.xml",
            settings.jars_dir / "plugins" / "debezium-connector-postgres",
            {"debezium.version": settings.debezium_version},
            # The worker provides Kafka, SLF4J and Jackson: a plugin-local Jackson would make
            # Debezium's CloudEventsConverter fail against the worker's JsonConverter.
            exclude_groups=("org.apache.kafka", "org.slf4j"),
            exclude_artifacts=("jackson-core", "jackson-databind", "jackson-annotations"),
        ),
        JarSet(
            "jmx", "jmx.pom.xml", jmx_dir(settings), {"jmx.version": settings.jmx_exporter_version}
        ),
    ]


def jmx_dir(settings: StackSettings) -> Path:
    """The folder of the JMX exporter agent."""
    return settings.jars_dir / "jmx"


def is_resolved(jar_set: JarSet, settings: StackSettings) -> bool:
    """True when the folder holds jars resolved from the current pom and versions."""
    stamp = jar_set.target / STAMP
    pom = settings.deploy_dir / "maven" / jar_set.pom
    return stamp.exists() and stamp.read_text().strip() == jar_set.fingerprint(pom)


def resolve(jar_set: JarSet, settings: StackSettings) -> bool:
    """Fill jar_set.target unless already resolved; return True when Maven ran."""
    if is_resolved(jar_set, settings):
        return False
    mvn = shutil.which(settings.mvn)
    if mvn is None:
        raise StackError(
            f"maven ({jar_set.name})",
            f"`{settings.mvn}` is not on PATH",
            "run `make up` (it installs Maven) or set ANNALS_STACK_MVN",
        )
    pom = settings.deploy_dir / "maven" / jar_set.pom
    staging = jar_set.target.with_name(jar_set.target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    log = settings.log(f"maven-{jar_set.name}")
    log.parent.mkdir(parents=True, exist_ok=True)
    args = [
        mvn, "-B", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        *(f"-D{key}={value}" for key, value in jar_set.properties.items()),
    ]  # fmt: skip
    if jar_set.exclude_groups:
        args.append(f"-DexcludeGroupIds={','.join(jar_set.exclude_groups)}")
    if jar_set.exclude_artifacts:
        args.append(f"-DexcludeArtifactIds={','.join(jar_set.exclude_artifacts)}")
    with open(log, "wb") as out:
        done = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0 or not any(staging.glob("*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        raise StackError(
            f"maven ({jar_set.name})",
            f"could not resolve {jar_set.pom} {jar_set.properties} (exit {done.returncode})",
            f"check access to Maven Central and the versions; details in {log}",
        )
    (staging / STAMP).write_text(jar_set.fingerprint(pom) + "\n")
    shutil.rmtree(jar_set.target, ignore_errors=True)
    jar_set.target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(jar_set.target)
    return True


def resolve_all(settings: StackSettings) -> list[str]:
    """Resolve every jar set; return the names that needed Maven."""
    return [s.name for s in jar_sets(settings) if resolve(s, settings)]
