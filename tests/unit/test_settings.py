"""shared.settings: NEWSFLOW_* configuration, parsed and checked up front."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own NEWSFLOW_* variables must not leak into these tests."""
    for name in ("NEWSFLOW_FETCH_ALLOW", "NEWSFLOW_DATA_DIR", "NEWSFLOW_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)


def test_fetch_allow_from_a_comma_separated_string() -> None:
    settings = Settings(_env_file=None, fetch_allow="127.0.0.1:8000, localhost:9000")
    assert settings.fetch_allow == ["127.0.0.1:8000", "localhost:9000"]


def test_fetch_allow_is_lower_cased_and_blank_items_dropped() -> None:
    settings = Settings(_env_file=None, fetch_allow=" LocalHost:9000 ,, ")
    assert settings.fetch_allow == ["localhost:9000"]


def test_fetch_allow_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFLOW_FETCH_ALLOW", "127.0.0.1:8000,localhost:9000")
    assert Settings(_env_file=None).fetch_allow == ["127.0.0.1:8000", "localhost:9000"]


def test_fetch_allow_defaults_to_empty() -> None:
    assert Settings(_env_file=None).fetch_allow == []


def test_fetch_allow_accepts_a_list() -> None:
    settings = Settings(_env_file=None, fetch_allow=["127.0.0.1:8000"])
    assert settings.fetch_allow == ["127.0.0.1:8000"]


@pytest.mark.parametrize("entry", ["nohostport", "host:", ":8000", "host:port", "127.0.0.1:80x"])
def test_invalid_fetch_allow_entry_is_rejected(entry: str) -> None:
    with pytest.raises(ValidationError, match=f"fetch_allow entry '{entry}' is not host:port"):
        Settings(_env_file=None, fetch_allow=f"127.0.0.1:8000,{entry}")


def test_search_index_url_defaults_to_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "store")
    assert settings.search_index_url == f"sqlite:///{tmp_path.resolve()}/store/index.db"


def test_default_search_index_url_is_absolute() -> None:
    settings = Settings(_env_file=None)
    assert settings.data_dir == Path("data")
    url = settings.search_index_url
    assert url.startswith("sqlite:////")
    assert url.endswith("/data/index.db")
    assert Path(url.removeprefix("sqlite:///")).is_absolute()


def test_explicit_index_url_wins(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, index_url="sqlite:///:memory:")
    assert settings.search_index_url == "sqlite:///:memory:"


def test_settings_are_frozen() -> None:
    settings = Settings(_env_file=None)
    with pytest.raises(ValidationError, match="frozen"):
        setattr(settings, "fetch_allow", ["x:1"])  # noqa: B010 - mypy knows it is read-only
    assert settings.fetch_allow == []


def test_env_example_lists_every_setting() -> None:
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    missing = [
        f"NEWSFLOW_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if field.validation_alias is None and f"NEWSFLOW_{name.upper()}=" not in example
    ]
    assert missing == []
