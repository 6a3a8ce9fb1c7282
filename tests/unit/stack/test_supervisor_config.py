"""The rendered supervisord config says what the platform needs, in words supervisord parses."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from supervisor.datatypes import RestartUnconditionally, dict_of_key_value_pairs
from supervisor.options import ServerOptions, UnhosedConfigParser

from annals.stack.supervisor import (
    LISTENER,
    STARTRETRIES,
    Paths,
    Program,
    passed_environment,
    render_environment,
    render_main,
    render_program,
    restart_counts,
    to_status,
)
from annals.stack.supervisor_events import apply, parse_tokens, serve

RUN, LOGS = Path("/tmp/annals-unit/run"), Path("/tmp")  # never touched: only rendered
ENV = {"ANNALS_ORDERS_PORT": "18001", "ODD": 'a%b,"c" d', "QUOTE": "it's", "EMPTY": ""}


def _parsed(text: str) -> UnhosedConfigParser:
    parser = UnhosedConfigParser()
    parser.read_string(text)
    return parser


def _service(processes: int = 2) -> Program:
    return Program(
        "orders",
        ["/venv/bin/python", "-m", "uvicorn", "--factory", "orders.app:create_app", "--fd", "0"],
        Path("/repo"),
        LOGS / "orders.log",
        ENV,
        processes=processes,
        socket="tcp://127.0.0.1:18001",
    )


def test_a_service_is_one_fcgi_group_restarted_with_back_off_and_stopped_as_a_group():
    options = ServerOptions()
    parser = _parsed(render_program(_service()))
    [group] = options.process_groups_from_parser(parser)
    assert group.name == "orders" and group.socket_config.url == "tcp://127.0.0.1:18001"
    names = [p.name for p in group.process_configs]
    assert names == ["orders-1", "orders-2"]
    for process in group.process_configs:
        assert process.autorestart is RestartUnconditionally
        assert process.startretries == STARTRETRIES >= 30
        assert process.startsecs >= 1
        assert process.stopasgroup and process.killasgroup
        assert process.stdout_logfile == str(LOGS / "orders.log")
        assert process.redirect_stderr
        assert process.environment == ENV
        assert process.command.split()[-2:] == ["--fd", "0"]


def test_a_single_worker_is_a_plain_program_named_as_its_log():
    program = Program("projector-1", ["python", "-m", "annals"], Path("/r"), LOGS / "p.log")
    [group] = ServerOptions().process_groups_from_parser(_parsed(render_program(program)))
    assert [p.name for p in group.process_configs] == ["projector-1"]
    assert "socket=" not in render_program(program)


def test_main_config_listens_on_a_private_unix_socket_with_a_password_and_counts_restarts():
    text = render_main(Paths(RUN, LOGS), "s3cret%x", "/venv/bin/python", Path("/repo"))
    parser = _parsed(text)
    assert parser.get("unix_http_server", "file") == str(RUN / "supervisord.sock")
    assert parser.get("unix_http_server", "chmod") == "0700"
    assert parser.get("unix_http_server", "password", raw=True) == "s3cret%%x"
    assert "inet_http_server" not in parser.sections()
    assert parser.get("supervisord", "pidfile") == str(RUN / "supervisord.pid")
    assert parser.get("include", "files") == f"{RUN}/supervisor/*.conf"
    listener = f"eventlistener:{LISTENER}"
    assert "PROCESS_STATE_STARTING" in parser.get(listener, "events")
    assert "annals.stack.supervisor_events" in parser.get(listener, "command")


def test_environment_round_trips_through_supervisors_parser_and_refuses_what_it_cannot_carry():
    rendered = render_environment(ENV).replace("%%", "%")  # the config parser undoes %%
    assert dict_of_key_value_pairs(rendered) == ENV
    for mangled in ("x\"'", '"x', "x'"):
        with pytest.raises(ValueError):
            render_environment({"V": mangled})
    with pytest.raises(ValueError):
        render_environment({"BAD-NAME": "x"})


def test_only_settings_path_and_locale_are_passed_through():
    env = {"ANNALS_QUERY_PORT": "1", "PATH": "/bin", "LC_ALL": "C", "AWS_SECRET": "no", "X": "y"}
    assert passed_environment(env) == {"ANNALS_QUERY_PORT": "1", "PATH": "/bin", "LC_ALL": "C"}


def test_restarts_count_crashes_and_failed_starts_and_reset_on_an_operators_start():
    counts: dict = {}
    head = "processname:orders-1 groupname:orders from_state:{} tries:0"
    for state in ("STOPPED", "EXITED", "BACKOFF"):
        apply(counts, "PROCESS_STATE_STARTING", parse_tokens(head.format(state)))
    assert counts["orders:orders-1"]["restarts"] == 2
    exited = "processname:orders-1 groupname:orders from_state:RUNNING expected:0 pid:42"
    apply(counts, "PROCESS_STATE_EXITED", parse_tokens(exited))
    assert counts["orders:orders-1"]["last_exit"]["pid"] == 42
    apply(counts, "PROCESS_STATE_STARTING", parse_tokens(head.format("STOPPED")))
    assert counts["orders:orders-1"]["restarts"] == 0


def test_status_rows_show_uptime_only_while_running(tmp_path: Path):
    info = {"group": "orders", "name": "orders-1", "statename": "RUNNING", "pid": 7,
            "start": 100, "now": 160, "description": "pid 7"}  # fmt: skip
    row = to_status(info, {"orders:orders-1": 3})
    assert (row.pid, row.uptime, row.restarts, row.alive) == (7, 60.0, 3, True)
    dead = to_status({**info, "statename": "BACKOFF", "pid": 0}, {})
    assert (dead.pid, dead.uptime, dead.restarts, dead.alive) == (None, None, 0, False)
    assert restart_counts(tmp_path / "missing.json") == {}


def test_the_listener_speaks_supervisors_protocol_and_writes_counts(tmp_path: Path):
    payload = "processname:query-1 groupname:query from_state:EXITED tries:0"
    header = "ver:3.0 server:supervisor serial:1 pool:x poolserial:1 eventname:"
    events = (
        f"{header}PROCESS_STATE_STARTING len:{len(payload)}\n{payload}"
        f"{header}PROCESS_STATE_STARTING len:{len(payload)}\n{payload}"
    )
    out = io.StringIO()
    serve(tmp_path / "restarts.json", io.StringIO(events), out)
    assert out.getvalue() == "READY\nRESULT 2\nOKREADY\nRESULT 2\nOKREADY\n"
    assert restart_counts(tmp_path / "restarts.json") == {"query:query-1": 2}
