"""`newsflow up` runs four workers on one machine: their metrics ports must not collide."""

from __future__ import annotations

import pytest

from services.supervisor import worker_metrics_ports
from shared.settings import Settings

pytestmark = pytest.mark.unit


def test_no_metrics_port_means_no_worker_serves_one() -> None:
    assert worker_metrics_ports(Settings(_env_file=None)) == {}


def test_each_stage_gets_its_own_port_in_pipeline_order() -> None:
    ports = worker_metrics_ports(Settings(_env_file=None, metrics_port=9100))
    assert ports == {
        "fetch": {"NEWSFLOW_METRICS_PORT": "9100"},
        "clean": {"NEWSFLOW_METRICS_PORT": "9101"},
        "extract": {"NEWSFLOW_METRICS_PORT": "9102"},
        "index": {"NEWSFLOW_METRICS_PORT": "9103"},
    }


def test_port_zero_lets_each_worker_pick_a_free_port() -> None:
    ports = worker_metrics_ports(Settings(_env_file=None, metrics_port=0))
    assert {env["NEWSFLOW_METRICS_PORT"] for env in ports.values()} == {"0"}


def test_scaled_stages_get_a_port_per_process() -> None:
    workers = ["fetch", "clean", "extract", "extract-2", "index"]
    ports = worker_metrics_ports(Settings(_env_file=None, metrics_port=9100), workers)
    assert [ports[name]["NEWSFLOW_METRICS_PORT"] for name in workers] == [
        "9100", "9101", "9102", "9103", "9104"
    ]  # fmt: skip
