"""`annals privacy report` and its admin endpoint, before and after Forget, for a customer
created over HTTP, one imported with `annals import` and one that came from the legacy ERP
(CDC topic + `legacy import-customers`): readable before, nothing readable after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from customers.service_layer.handlers import registry
from legacy.import_customers import CustomerImporter, customer_id
from legacy.sandbox import sandbox
from legacy.schema import PERSONAL_COLUMNS

from annals.cdc import RowChange
from annals.eventstore.importer import import_file
from annals.eventstore.pgstores import PostgresKeyStore
from annals.privacy import READABLE, Report
from annals.privacy.collect import report
from annals.privacy.sources import Sources
from annals.projections.process import registries
from annals.projections.rebuild import Rebuild
from annals.projections.worker import Worker
from annals.topology import topology
from annals.web.auth import mint_token
from tests.e2e.test_command_to_query import apps, serve
from tests.e2e.test_import_then_forget import history, write
from tests.integration.projections.helpers import eventually, running
from tests.integration.projections.rig import Rig

pytestmark = pytest.mark.stack
PROJECTIONS = ("customer_status", "customer_orders")


def states(found: Report) -> dict[tuple[str, str], str]:
    return {(f.kind, f.place): f.state for f in found.findings}


async def test_report_shows_readable_copies_before_and_none_after_forget(
    rig: Rig, tmp_path: Path
) -> None:
    unique = uuid.uuid4().hex[:10]
    http_id, imported_id = f"h-{unique}", f"imp-{unique}"
    _, app, _, settings = apps(rig)
    admin = {"Authorization": "Bearer " + mint_token(settings, ["admin", "read", "read:pii"])}
    reader = {"Authorization": "Bearer " + mint_token(settings, ["read", "read:pii"])}
    async with sandbox(rig.stack, unique) as box, serve(app, "http://c") as customers, \
            rig.relay("customers"):  # fmt: skip
        cdc = {box.topic("legacy_customers"): PERSONAL_COLUMNS["legacy_customers"]}
        sources = Sources.of(rig.settings(), cdc=cdc, scan_seconds=30.0)
        app.state.privacy_sources = sources
        body = {"customer_id": http_id, "name": f"Hana {unique}", "email": f"h-{unique}@e.test"}
        created = await customers.post(
            "/customers", json=body, headers={**admin, "Idempotency-Key": f"k-{unique}"}
        )
        assert created.status_code == 201, created.text
        dsn = rig.app_dsn("customers")
        await import_file(dsn, write(tmp_path / "c.ndjson", history(imported_id, unique)),
                          registry=registry())  # fmt: skip
        legacy_id = await _legacy_customer(box, unique)
        imported = await CustomerImporter(app.state.store).run(box.owner, box.where)
        assert imported.imported == 1, imported
        subjects = (http_id, imported_id, customer_id(legacy_id))

        keys = PostgresKeyStore(app.state.database)
        workers = [Worker(topology().projections[n], rig.settings(), keys=keys,
                          registries=registries()) for n in PROJECTIONS]  # fmt: skip
        async with running(*workers):
            for subject in subjects:
                await eventually(lambda s=subject: _in_read_model(sources, s), timeout=30)
            await Rebuild(topology().projections["customer_orders"], rig.settings(),
                          keep_old=True, keys=keys, registries=registries()).run()  # fmt: skip
            for subject in subjects:
                before = states(await report(subject, sources))
                assert before[("event store", "customers subject key")] == READABLE
                assert before[("event store", "customers events")] == READABLE
                assert before[("kafka topic", rig.topic("customers.events"))] == READABLE
                versions = [p for k, p in before if k == "read model"]
                assert len(versions) == 2  # the retired version and the live one
                assert all(before[("read model", p)] == READABLE for p in versions)
                assert before[("cdc topic", box.topic("legacy_customers"))] == "absent"
            assert states(await report(http_id, sources))[
                ("idempotency", "customers api.idempotency_keys")
            ] == READABLE  # fmt: skip

            denied = await customers.get(f"/customers/{http_id}/privacy-report", headers=reader)
            assert denied.status_code == 403
            shown = await customers.get(f"/customers/{http_id}/privacy-report", headers=admin)
            assert shown.status_code == 200 and shown.json()["readable"] > 0

            for subject in subjects:
                forgot = await customers.post(f"/customers/{subject}/forget", headers=admin)
                assert forgot.status_code == 200, forgot.text
            for subject in subjects:
                after = await eventually(lambda s=subject: _clean(sources, s), timeout=30)
                assert {f.state for f in after.findings} <= {"unreadable", "wiped", "absent"}

        shown = await customers.get(f"/customers/{http_id}/privacy-report", headers=admin)
        assert shown.status_code == 200 and shown.json()["readable"] == 0, shown.text
        wiped = {f["place"] for f in shown.json()["findings"] if f["state"] == "wiped"}
        assert "customers api.idempotency_keys" in wiped
        personal = (
            f"Hana {unique}",
            f"h-{unique}@e.test",
            f"Imported {unique}",
            f"imported-{unique}@example.com",
            f"Lea {unique}",
            f"lea-{unique}@e.test",
        )
        for subject in subjects:  # the audit trail of a forgotten subject
            trail = await customers.get(f"/customers/{subject}/events", headers=admin)
            assert trail.status_code == 200 and not any(v in trail.text for v in personal)
        cli = _cli(rig, imported_id)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert json.loads(cli.stdout)["readable"] == 0


async def _legacy_customer(box: object, unique: str) -> int:
    """A legacy row, captured by the sandbox connector (personal columns left out)."""
    legacy_id = 7_000 + int(unique[:4], 16)
    await box.owner.execute(  # type: ignore[attr-defined]
        f"INSERT INTO {box.where.table('legacy_customers')} "  # type: ignore[attr-defined]
        "(legacy_id, customer_no, full_name, email, phone) VALUES ($1, $2, $3, $4, $5)",
        legacy_id, f"C-{legacy_id}", f"Lea {unique}", f"lea-{unique}@e.test", "+49 30 1234567",
    )  # fmt: skip
    await box.start()  # type: ignore[attr-defined]
    async with box.reader() as changes:  # type: ignore[attr-defined]
        await changes.read_until(
            lambda es: any(isinstance(e, RowChange) and e.source.table == "legacy_customers"
                           for e in es), timeout=90,
        )  # fmt: skip
    return legacy_id


async def _in_read_model(sources: Sources, subject: str) -> bool:
    found = states(await report(subject, sources))
    return any(k == "read model" and s == READABLE for (k, _), s in found.items())


async def _clean(sources: Sources, subject: str) -> Report | None:
    found = await report(subject, sources)
    return None if found.readable else found


def _cli(rig: Rig, subject: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **rig.env()}
    return subprocess.run(
        [sys.executable, "-m", "annals.cli.main", "privacy", "report", subject, "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
