"""Every contributed plan is valid: no step twice, services' own steps numbered 2-99."""

from __future__ import annotations

from annals.commands.storage import database_steps
from annals.commands.tables import IDEMPOTENCY_STEPS
from annals.migrations.runner import ordered
from annals.reactors.causations import REACTIONS_STEP
from annals.topology import resolve, topology
from annals.web.launcher import specs

LIBRARY_API = {s.version for s in (*IDEMPOTENCY_STEPS, REACTIONS_STEP)}


def test_each_command_service_database_has_a_valid_plan() -> None:
    for name, spec in specs().items():
        plan = ordered(database_steps(spec.steps))
        components = [s.component for s in plan]
        assert components.index("eventstore") < components.index("api"), name


def test_services_number_their_own_steps_two_to_ninety_nine() -> None:
    for service in topology().of_kind("command"):
        for migration in service.migrations:
            step = resolve(migration.step)
            assert step.version in LIBRARY_API or 2 <= step.version <= 99, (service.name, step)
