"""`newsflow up --scale STAGE=N`: several worker processes share one stage's work."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from shared.streams import STAGES
from tests.conftest import PageServer
from tests.e2e.harness import newsflow_up

pytestmark = pytest.mark.e2e


def test_a_scaled_stage_runs_several_consumers_in_one_group(
    page_server: PageServer, tmp_path: Path
) -> None:
    env = {
        "NEWSFLOW_FETCH_ALLOW": page_server.host_port,
        "NEWSFLOW_FETCH_HOST_INTERVAL": "0",  # every page is on one host
    }
    with newsflow_up(tmp_path, env, args=("--scale", "extract=2", "--scale", "clean=2")) as up:
        assert len(up.stage_pids("extract")) == 2
        assert len(up.stage_pids("clean")) == 2
        assert len(up.stage_pids("fetch")) == 1
        urls = [page_server.url(f"generated/{n}.html?scale") for n in range(40)]
        response = httpx.post(f"{up.api}/v1/articles", json={"urls": urls}, timeout=30)
        ids = [article["id"] for article in response.json()["articles"]]
        views = [up.wait_terminal(ident, timeout=180) for ident in ids]
        assert {view["status"] for view in views} == {"indexed"}
        client = redis.Redis(port=up.redis_port)
        try:
            extract = STAGES["extract"]
            consumers = client.xinfo_consumers(extract.reads, extract.group)
        finally:
            client.close()
        # Both processes joined the group under their own names.
        names = {c["name"].decode() for c in consumers}
        assert len(names) == 2, names
        assert all(name.startswith("extract-") for name in names)
