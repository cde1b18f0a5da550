"""The committed AsyncAPI document is what `faststream docs gen` makes from the code today."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.asyncapi import EVENTS, app
from shared.streams import STAGES

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "docs" / "asyncapi.json"
REGENERATE = "faststream docs gen shared.asyncapi:app --out docs/asyncapi.json"


def committed() -> Any:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


def test_committed_document_is_current() -> None:
    # Compared as data: FastStream does not keep channels in a fixed order.
    generated = app.schema.to_specification().to_jsonable()
    assert committed() == generated, f"docs/asyncapi.json is out of date: run `{REGENERATE}`"


def test_document_names_every_stage_stream_group_and_event() -> None:
    document = committed()
    bindings = {
        (channel["address"], channel["bindings"]["redis"].get("groupName"))
        for channel in document["channels"].values()
    }
    for stage in STAGES.values():
        assert (stage.reads, stage.group) in bindings
        assert (stage.writes, None) in bindings
    schemas = set(document["components"]["schemas"])
    for consumed, published in EVENTS.values():
        assert {consumed.__name__, published.__name__} <= schemas
    assert set(EVENTS) == set(STAGES.values())


def test_the_cli_writes_the_same_document(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    arguments = REGENERATE.replace("docs/asyncapi.json", str(out)).split()[1:]
    subprocess.run(
        [sys.executable, "-m", "faststream", *arguments], cwd=REPO, check=True, capture_output=True
    )
    assert json.loads(out.read_text(encoding="utf-8")) == committed()
