"""ANNALS_GC_THRESHOLD: what every process sets for the cyclic collector, and bad values."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from annals.collector import THRESHOLDS, InvalidThreshold, thresholds, tune_collector


@pytest.fixture(autouse=True)
def restored_collector() -> Iterator[None]:
    """Each test leaves the collector as it found it."""
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)
    gc.unfreeze()


def test_unset_or_blank_means_the_platform_thresholds() -> None:
    assert thresholds(None) == THRESHOLDS
    assert thresholds("  ") == THRESHOLDS
    assert THRESHOLDS[0] > 700  # more than CPython's own generation-0 threshold


def test_three_integers_are_taken_and_default_keeps_cpython() -> None:
    assert thresholds("5000, 20,30") == (5000, 20, 30)
    assert thresholds("default") is None


@pytest.mark.parametrize("value", ["700", "1,2", "a,b,c", "0,10,10", "-1,10,10", "1,2,3,4"])
def test_a_malformed_value_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(InvalidThreshold, match="ANNALS_GC_THRESHOLD") as caught:
        thresholds(value)
    assert "default" in str(caught.value)


def test_tuning_sets_the_thresholds_and_freezes_what_exists() -> None:
    gc.set_threshold(700, 10, 10)
    kept = [object() for _ in range(10)]  # noqa: F841 - alive while frozen
    assert tune_collector({"ANNALS_GC_THRESHOLD": "12345,11,12"}) == (12345, 11, 12)
    assert gc.get_threshold() == (12345, 11, 12)
    assert gc.get_freeze_count() > 0


def test_default_leaves_the_collector_alone() -> None:
    gc.set_threshold(700, 10, 10)
    assert tune_collector({"ANNALS_GC_THRESHOLD": "default"}) == (700, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_malformed_setting_stops_the_tuning_before_it_changes_anything() -> None:
    gc.set_threshold(700, 10, 10)
    with pytest.raises(InvalidThreshold):
        tune_collector({"ANNALS_GC_THRESHOLD": "lots"})
    assert gc.get_threshold() == (700, 10, 10)


def test_the_annals_program_refuses_a_malformed_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from annals.cli.main import run

    monkeypatch.setenv("ANNALS_GC_THRESHOLD", "lots")
    with pytest.raises(SystemExit) as stopped:
        run()
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ANNALS_GC_THRESHOLD='lots'") and "\n" not in err
