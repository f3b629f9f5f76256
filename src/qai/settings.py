"""Every setting QAI reads, in one place.

Settings come from the environment (prefix ``QAI_``) or a ``.env`` file in the working directory.
``DATABASE_URL`` is honoured as in the original app. A bad value stops QAI at start with a
message that names the setting and how to fix it (:class:`SettingsError`).
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "QAI_"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SettingsError(Exception):
    """A setting has a value QAI cannot use; the message names the setting and the fix."""


def default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "qai"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        description="development or production; production refuses destructive commands.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where QAI keeps its SQLite database, sandboxes and caches.",
    )

    # --- database -----------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("QAI_DATABASE_URL", "DATABASE_URL"),
        description=(
            "postgresql://user@host/db or sqlite:///path.db; default: SQLite file "
            "<data_dir>/qai.db. DATABASE_URL is read too, as in the original."
        ),
    )
    db_pool_size: int = Field(default=10, ge=1, le=1000, description="Connections kept open.")
    db_max_overflow: int = Field(
        default=10, ge=0, le=1000, description="Extra connections allowed above the pool size."
    )
    db_pool_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for a free connection."
    )
    db_pool_recycle: int = Field(
        default=1800, ge=-1, description="Seconds after which a connection is replaced (-1: never)."
    )
    db_pool_pre_ping: bool = Field(
        default=False,
        description="Test each connection on checkout (one extra statement per request).",
    )
    db_slow_query_ms: float = Field(
        default=500.0, ge=0, description="Statements slower than this are logged (0: log all)."
    )
    db_echo: bool = Field(default=False, description="Log every SQL statement.")
    auto_migrate: bool = Field(
        default=True, description="Migrate the database to the newest revision at start."
    )

    # --- HTTP ---------------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the server listens on.")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info")
    log_format: Literal["text", "json"] = Field(default="text", description="text or json logs.")
    access_log: bool = Field(default=True, description="Log one line per HTTP request.")

    # --- sandboxes ----------------------------------------------------------------------------
    sandbox_backend: Literal["local"] = Field(default="local")
    sandbox_isolation: Literal["bwrap", "none"] = Field(
        default="bwrap",
        description="bwrap isolates every sandbox process; none (development only) does not.",
    )
    sandbox_network: bool = Field(
        default=False,
        description=(
            "Give sandboxes outbound network access. Risk: generated code can reach the "
            "internet and any host the QAI machine can reach."
        ),
    )
    sandbox_memory_mb: int = Field(default=2048, ge=64, description="Address space per process.")
    sandbox_cpu_seconds: int = Field(default=600, ge=1, description="CPU time per command.")
    sandbox_max_processes: int = Field(default=256, ge=8, description="Processes per sandbox.")
    sandbox_file_size_mb: int = Field(default=100, ge=1, description="Largest file a sandbox writes.")
    sandbox_command_timeout: float = Field(
        default=120.0, gt=0, description="Wall-clock seconds per command before it is killed."
    )
    sandbox_idle_seconds: int = Field(
        default=900, ge=10, description="Idle sandboxes are stopped after this many seconds."
    )
    sandbox_max_running: int = Field(
        default=4, ge=1, description="Most sandboxes running at once (least recently used stop)."
    )
    default_template: str = Field(default="web", description="Template of new projects.")
    preview_url_template: str = Field(
        default="http://{sandbox}.preview.localhost:{port}",
        description=(
            "Public address of a preview; {sandbox} is the sandbox name, {port} QAI's port. "
            "Must be another origin than QAI's own."
        ),
    )

    # --- models and runs ----------------------------------------------------------------------
    model: str | None = Field(
        default=None,
        description="provider:model, e.g. openai:gpt-4.1, anthropic:claude-sonnet-4-5, "
        "ollama:qwen2.5-coder. Unset: runs answer with an error saying how to set it.",
    )
    small_model: str | None = Field(
        default=None, description="Optional cheaper model for titles and replies."
    )
    model_temperature: float = Field(default=0.1, ge=0, le=2)
    run_max_turns: int = Field(default=15, ge=1, le=200, description="Model turns per run.")
    run_timeout_seconds: float = Field(default=900.0, gt=0, description="Wall clock per run.")
    worker_concurrency: int = Field(
        default=4, ge=1, le=256, description="Runs of different projects at once per worker."
    )
    memory_chars: int = Field(
        default=20_000, ge=0, description="Conversation history the model sees, in characters."
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return normalise_database_url(value.strip())

    @model_validator(mode="after")
    def _check_preview_template(self) -> Settings:
        if "{sandbox}" not in self.preview_url_template:
            raise ValueError("preview_url_template must contain {sandbox}")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'qai.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION


def normalise_database_url(url: str) -> str:
    """Turn the URL forms people use (Prisma's included) into SQLAlchemy async URLs.

    ``postgres://`` and ``postgresql://`` use asyncpg; Prisma's ``?schema=public`` is dropped
    (it is the default search path); ``sqlite:///`` uses aiosqlite.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"}:
        query = [(k, v) for k, v in parse_qsl(parts.query) if not (k == "schema" and v == "public")]
        if any(k == "schema" for k, _ in query):
            raise ValueError(
                "only the public schema is supported; drop ?schema=... from the database URL"
            )
        return urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, urlencode(query), ""))
    if scheme in {"sqlite", "sqlite+aiosqlite"}:
        return "sqlite+aiosqlite:" + url.split(":", 1)[1]
    raise ValueError(
        f"unsupported database scheme {parts.scheme!r}: use postgresql://... or sqlite:///..."
    )


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "settings"
        env = "DATABASE_URL or QAI_DATABASE_URL" if field == "database_url" else (
            ENV_PREFIX + field.upper()
        )
        given = item.get("input")
        shown = f"={given!r}" if isinstance(given, str | int | float) else ""
        lines.append(f"  {env}{shown}: {item['msg']}")
    return (
        "QAI cannot start: invalid settings.\n"
        + "\n".join(lines)
        + "\nFix the value in the environment or .env file (see docs/settings.md)."
    )


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
