"""Command-line arguments that need parsing of their own."""

from __future__ import annotations

import pytest

from services.cli import build_parser

pytestmark = pytest.mark.unit


def test_up_takes_repeated_scale_options() -> None:
    args = build_parser().parse_args(["up", "--scale", "extract=3", "--scale", "clean=2"])
    assert dict(args.scale) == {"extract": 3, "clean": 2}
    assert build_parser().parse_args(["up"]).scale == []


@pytest.mark.parametrize("value", ["extract", "extract=0", "extract=two", "parse=2", "=2"])
def test_a_bad_scale_names_the_problem(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", "--scale", value])
    error = capsys.readouterr().err
    assert "expected STAGE=N" in error
    assert repr(value) in error
