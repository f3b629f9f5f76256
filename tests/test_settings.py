"""Settings: one place, QAI_ prefix, DATABASE_URL honoured, bad values named with their fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qai.settings import SettingsError, load_settings, normalise_database_url, settings_table


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = load_settings()
    assert settings.data_dir == tmp_path / "qai"
    assert settings.sqlalchemy_url == f"sqlite+aiosqlite:///{tmp_path / 'qai' / 'qai.db'}"
    assert settings.host == "127.0.0.1"
    assert not settings.is_production


def test_database_url_is_honoured_as_in_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:secret@db:5432/qai?schema=public")
    assert load_settings().sqlalchemy_url == "postgresql+asyncpg://app:secret@db:5432/qai"
    monkeypatch.setenv("QAI_DATABASE_URL", "sqlite:////tmp/x.db")
    assert load_settings().sqlalchemy_url == "sqlite+aiosqlite:////tmp/x.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql://u@h/d?sslmode=require", "postgresql+asyncpg://u@h/d?sslmode=require"),
        ("sqlite:///relative.db", "sqlite+aiosqlite:///relative.db"),
    ],
)
def test_url_forms(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("QAI_DB_POOL_SIZE", "many", "QAI_DB_POOL_SIZE='many'"),
        ("QAI_DB_POOL_SIZE", "0", "QAI_DB_POOL_SIZE='0'"),
        ("QAI_ENVIRONMENT", "staging", "QAI_ENVIRONMENT='staging'"),
        ("QAI_PORT", "70000", "QAI_PORT='70000'"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL or QAI_DATABASE_URL"),
        ("DATABASE_URL", "postgresql://h/d?schema=other", "only the public schema"),
        ("QAI_PREVIEW_URL_TEMPLATE", "http://preview.example.com", "{sandbox}"),
    ],
)
def test_bad_settings_name_the_setting_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert named in message
    assert "docs/settings.md" in message


def test_the_cli_refuses_to_start_with_bad_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qai", "db", "current"],
        env={"QAI_DB_POOL_SIZE": "lots", "QAI_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "QAI_DB_POOL_SIZE='lots'" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_setting_is_documented_as_the_code_says() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "settings.md").read_text()
    for env, default, description in settings_table():
        row = f"| `{env}` | `{default}` | {description} |"
        assert row in docs, f"docs/settings.md is stale for {env}: run `make docs`"
    assert all(description for _, _, description in settings_table())
