"""Every setting QAI reads, in one place.

Settings come from the environment (prefix ``QAI_``) or a ``.env`` file in the working directory.
``DATABASE_URL`` is honoured as in the original app. A bad value stops QAI at start with a
message that names the setting and how to fix it (:class:`SettingsError`).
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "QAI_"
# A DNS name, an IPv4 address or a bracketed IPv6 address: what a Host header names.
_LABEL = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*|\[[0-9a-f:.]+\]")


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
    allowed_hosts: str | None = Field(
        default=None,
        description=(
            "More host names QAI answers to, comma-separated (e.g. qai.example.com behind a "
            "proxy), on any port; writes from pages on these names are accepted too. Always "
            "answered: the bind address, localhost, 127.0.0.1 and [::1] (and any IP address "
            "when QAI_HOST is 0.0.0.0 or ::). Any other Host gets a 421, against DNS rebinding."
        ),
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="debug, info, warning or error."
    )
    log_format: Literal["text", "json"] = Field(default="text", description="text or json logs.")
    access_log: bool = Field(
        default=True,
        description="Log one line per HTTP request (written in batches, at least every 0.5 s).",
    )

    # --- sandboxes ----------------------------------------------------------------------------
    sandbox_backend: Literal["local"] = Field(
        default="local", description="Where sandboxes run: local (this machine)."
    )
    sandbox_isolation: Literal["bwrap", "none"] = Field(
        default="bwrap",
        description="bwrap isolates every sandbox process; none (development only) does not.",
    )
    sandbox_network: bool = Field(
        default=False,
        description=(
            "Give sandboxes outbound network access. Risk: generated code can reach the "
            "internet and any host the QAI machine can reach, its own services included."
        ),
    )
    sandbox_memory_mb: int = Field(
        default=2048,
        ge=16,
        description=(
            "Memory budget of a whole sandbox (all its processes, shared memory, /tmp and "
            "/dev/shm) where QAI can give it a cgroup; always also the private writable memory "
            "of each of its processes (RLIMIT_DATA), the only bound on hosts without cgroups."
        ),
    )
    sandbox_cpu_seconds: int = Field(default=600, ge=1, description="CPU time per command.")
    sandbox_max_processes: int = Field(
        default=256,
        ge=8,
        description=(
            "Processes (threads included) per sandbox: its cgroup's pids.max where it has one, "
            "and RLIMIT_NPROC of its uid."
        ),
    )
    sandbox_file_size_mb: int = Field(
        default=100, ge=1, description="Largest file a sandbox writes."
    )
    sandbox_disk_mb: int = Field(
        default=2048,
        ge=1,
        description="Largest total size of a sandbox directory; a sandbox past it is stopped.",
    )
    sandbox_tmp_mb: int = Field(
        default=256,
        ge=1,
        description="Size of a sandbox's private /tmp (memory-backed, within its memory budget).",
    )
    sandbox_shm_mb: int = Field(
        default=64,
        ge=1,
        description="Size of a sandbox's /dev/shm (memory-backed, within its memory budget).",
    )
    sandbox_seccomp: bool = Field(
        default=True,
        description=(
            "Apply the syscall filter of docs/sandbox.md to every sandbox process (bwrap "
            "isolation only). Turn it off only to find out whether it is what breaks a tool."
        ),
    )
    sandbox_command_timeout: float = Field(
        default=120.0, gt=0, description="Wall-clock seconds per command before it is killed."
    )
    sandbox_start_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds a template's server may take to answer before it counts as failed.",
    )
    sandbox_idle_seconds: float = Field(
        default=900, gt=0, description="Idle sandboxes are stopped after this many seconds."
    )
    sandbox_max_running: int = Field(
        default=8,
        ge=1,
        description=(
            "Most sandboxes running at once; past it the least recently used stop (a preview "
            "someone has open is used by each of its requests)."
        ),
    )
    sandbox_keep_stopped_hours: float = Field(
        default=168.0,
        ge=0,
        description=(
            "Hours a stopped sandbox's directory is kept after its last activity; then it is "
            "removed, with its log (a preview is rebuilt from the stored files). 0: keep forever."
        ),
    )
    sandbox_uid_base: int = Field(
        default=1_000_000,
        ge=1000,
        le=2**31 - 70_000,
        description=(
            "First host uid given to sandbox processes; each running sandbox gets its own uid "
            "from the 65536 that follow, so process limits bind per sandbox."
        ),
    )
    sandbox_uid_dir: Path = Field(
        default=Path("/run/qai/uids"),
        description=(
            "Machine-wide directory of the lock files reserving sandbox uids (created 0700): "
            "every QAI process on the machine, whatever its data directory, must use the same "
            "one, so that no two running sandboxes share a uid."
        ),
    )
    sandbox_read_max_files: int = Field(
        default=1000, ge=1, description="Most files one read of a sandbox's files returns."
    )
    sandbox_read_max_mb: int = Field(
        default=16, ge=1, description="Most bytes (MiB) one read of a sandbox's files returns."
    )
    default_template: str = Field(default="web", description="Template of new projects.")
    preview_url_template: str = Field(
        default="http://{sandbox}.preview.localhost:{port}",
        description=(
            "Public address of a preview; {sandbox} is the sandbox name (or <port>-<name> for "
            "another port of the sandbox), {port} QAI's port. {sandbox} must be in the host "
            "name, so that every preview is an origin of its own, never QAI's."
        ),
    )

    # --- models and runs ----------------------------------------------------------------------
    model: str | None = Field(
        default=None,
        description="provider:model, e.g. openai:gpt-4.1, anthropic:claude-sonnet-4-5, "
        "ollama:qwen2.5-coder. Unset: runs answer with an error saying how to set it.",
    )
    models: str | None = Field(
        default=None,
        description="The models people may pick for a run, comma-separated provider:model "
        "names (e.g. openai:gpt-4.1,anthropic:claude-sonnet-4-5); QAI_MODEL is offered too, "
        "first, and is the default. Unset: only QAI_MODEL, and the prompt box shows no picker.",
    )
    small_model: str | None = Field(
        default=None, description="Optional cheaper model for titles and replies."
    )
    model_temperature: float = Field(
        default=0.1, ge=0, le=2, description="Sampling temperature of the agent's model."
    )
    run_max_turns: int = Field(default=15, ge=1, le=200, description="Model turns per run.")
    run_timeout_seconds: float = Field(default=900.0, gt=0, description="Wall clock per run.")
    run_max_fixes: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Times a run lets the agent fix what the app check found before answering.",
    )
    check_enabled: bool = Field(
        default=True,
        description="Open every version in a headless browser before it is announced (false: "
        "its check is 'skipped').",
    )
    check_browser: Path = Field(
        default=Path("/usr/bin/chromium"),
        description="The Chromium the app check drives (missing: checks are 'skipped').",
    )
    check_timeout_seconds: float = Field(
        default=20.0, gt=0, le=600, description="Time budget of one app check."
    )
    run_cancel_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description=(
            "How often a running run looks for a Stop request (which any server process may "
            "record): a stopped run ends within about this long."
        ),
    )
    worker_concurrency: int = Field(
        default=4, ge=1, le=256, description="Runs of different projects at once per worker."
    )
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How far a `qai worker` process lowers its CPU priority at start (a Unix "
        "nice increment, 0-19): runs are background work, and on a machine it shares with "
        "`qai serve` the API's requests come first. 0 keeps the priority it was started with.",
    )
    memory_chars: int = Field(
        default=20_000, ge=0, description="Conversation history the model sees, in characters."
    )
    fragment_max_bytes: int = Field(
        default=10_000_000,
        ge=1024,
        description=(
            "Largest total size (UTF-8 bytes) of the files a version keeps; files past it are "
            "left out, and the answer says which."
        ),
    )
    fragment_max_files: int = Field(
        default=1000, ge=1, description="Most files a version keeps; the rest are left out."
    )
    fragment_max_file_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=1_048_576,
        description=(
            "Largest file (UTF-8 bytes) a version keeps; larger ones, and binary files (NUL "
            "bytes or not UTF-8), are left out. At most 1 MiB, what a sandbox read returns."
        ),
    )

    # --- model providers, workers, live events (owned by qai.llm / qai.jobs / qai.live) --------
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("QAI_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
        description="Base URL of an OpenAI-compatible server (vLLM, LM Studio, llama.cpp); "
        "OPENAI_BASE_URL is read too. Unset: api.openai.com.",
    )
    ollama_base_url: str = Field(
        default="http://127.0.0.1:11434/v1",
        validation_alias=AliasChoices("QAI_OLLAMA_BASE_URL", "OLLAMA_BASE_URL"),
        description="Ollama's OpenAI-compatible endpoint; OLLAMA_BASE_URL is read too.",
    )
    model_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Seconds one model request may take before it is retried."
    )
    model_max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a failed model request (5xx, 429, timeouts), with backoff; the "
        "agent's are QAI's own, each shown on the run's model step (\"retry 1 of 2\").",
    )
    worker_id: str | None = Field(
        default=None,
        description="This process's durable-execution executor id; stable across restarts so a "
        "restarted worker resumes its runs. Default: <hostname>-<serve|worker>. Give every "
        "worker sharing one PostgreSQL its own.",
    )
    worker_dead_seconds: float = Field(
        default=300.0,
        gt=0,
        description="A worker not heard from for this long is dead: another worker takes over "
        "its runs, which go on from their last finished step. Workers check in every tenth of "
        "it, and at least every 30 s; give all workers sharing a database the same value.",
    )
    repair_batch_size: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Unanswered messages the repair gives their runs per batch, oldest first "
        "(at start-up, in the background, and then every minute).",
    )
    repair_batch_pause_seconds: float = Field(
        default=0.2,
        ge=0,
        le=60,
        description="Pause between two batches of the repair, so that a large backlog does not "
        "hold up requests and the runs already queued.",
    )
    handoff_batch_size: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Runs a worker hands to the durable queue per batch: new USER messages' "
        "runs are recorded in their request's transaction and handed over off the request path.",
    )
    handoff_burst_seconds: float = Field(
        default=3.0,
        ge=0,
        le=60,
        description="During a burst of new messages (another within 50 ms, from a script or a "
        "load test), how long a worker's hand-off waits for a pause before it hands over one "
        "batch anyway: the burst's writes keep the database to themselves, and its runs start "
        "soon after. A message after a quiet moment is handed over at once. 0: never wait.",
    )
    handoff_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often a worker looks for runs not handed to the durable queue yet when "
        "nothing woke it (a message saved by this process wakes it at once, one saved by another "
        "process on PostgreSQL by NOTIFY; on SQLite another process's messages wait for this).",
    )
    queue_poll_seconds: float = Field(
        default=0.1,
        gt=0,
        le=60,
        description="How often a worker looks for queued runs (one small query each time).",
    )
    live_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often open event streams look for events written by other processes.",
    )
    events_retention_hours: int = Field(
        default=168, ge=1, description="Live events older than this are deleted by workers."
    )

    # --- accounts -----------------------------------------------------------------------------
    auth: Literal["none", "accounts"] = Field(
        default="none",
        description=(
            "none: one person on this machine, no sign-in (allowed only on a loopback address); "
            "accounts: people sign in and see only their own projects (see docs/accounts.md)."
        ),
    )
    session_hours: int = Field(
        default=168, ge=1, le=24 * 366, description="A sign-in lasts this long (accounts mode)."
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description=(
            "Wrong passwords allowed per account and per address within "
            "QAI_LOGIN_LOCKOUT_SECONDS before sign-in is refused with a 429."
        ),
    )
    login_lockout_seconds: int = Field(
        default=300, ge=1, le=86_400, description="The window and lockout of the throttling."
    )
    preview_requires_sign_in: bool = Field(
        default=False,
        description=(
            "Accounts mode: a preview answers only a browser signed in as the project's owner "
            "(or an admin). Off, a preview is a capability URL (its unguessable id)."
        ),
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "QAI's own address as browsers reach it, e.g. https://qai.example.com: where a "
            "preview that requires sign-in sends a browser that is not let in yet. "
            "Unset: http://localhost:<port>."
        ),
    )
    quota_runs_per_day: int | None = Field(
        default=None, ge=0, description="Runs a person may start per UTC day (unset: no limit)."
    )
    quota_runs_at_once: int | None = Field(
        default=None, ge=0, description="Runs a person may have in flight (unset: no limit)."
    )
    quota_tokens_per_month: int | None = Field(
        default=None,
        ge=0,
        description="Model tokens a person may use per UTC month (unset: no limit).",
    )

    oidc_issuer: str | None = Field(
        default=None,
        description=(
            "Single sign-on through OpenID Connect: the issuer's URL (e.g. "
            "https://keycloak.example.com/realms/team; its /.well-known/openid-configuration is "
            "read). Unset: no single sign-on. Needs QAI_AUTH=accounts, QAI_OIDC_CLIENT_ID and "
            "QAI_OIDC_CLIENT_SECRET (see docs/accounts.md)."
        ),
    )
    oidc_client_id: str | None = Field(
        default=None, description="The client id QAI is registered under at the issuer."
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="The client secret the issuer gave QAI (never logged)."
    )
    oidc_scopes: str = Field(
        default="openid email profile",
        description="The scopes QAI asks for (space-separated; openid and email are needed).",
    )
    oidc_button_label: str = Field(
        default="Sign in with SSO",
        min_length=1,
        max_length=80,
        description="The single sign-on button's text on the sign-in page.",
    )
    oidc_allow_signup: bool = Field(
        default=False,
        description=(
            "false: only an email that has an account already (or a person with an invitation) "
            "may sign in through single sign-on; true: a verified email the issuer vouches for "
            "gets a member account on its first sign-in."
        ),
    )
    oidc_redirect_url: str | None = Field(
        default=None,
        description=(
            "The callback address registered at the issuer (https://qai.example.com/auth/oidc/"
            "callback). Unset: built from the request's host, with https behind a proxy that "
            "sends X-Forwarded-Proto: https."
        ),
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return normalise_database_url(value.strip())

    @field_validator("allowed_hosts")
    @classmethod
    def _check_allowed_hosts(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [name.strip().lower().rstrip(".") for name in value.split(",") if name.strip()]
        for name in names:
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a host name: give names only, comma-separated, without "
                    "scheme, port or path (e.g. qai.example.com,qai.internal)"
                )
        return ",".join(names) or None

    @property
    def allowed_host_names(self) -> tuple[str, ...]:
        """The names of ``allowed_hosts``, lowercased, without brackets."""
        if not self.allowed_hosts:
            return ()
        return tuple(name.strip("[]") for name in self.allowed_hosts.split(","))

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// address, e.g. https://qai.example.com")
        return value.strip().rstrip("/")

    @property
    def qai_url(self) -> str:
        """QAI's own address for browsers: ``public_url``, or localhost on QAI's port."""
        return self.public_url or f"http://localhost:{self.port}"

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [name.strip() for name in value.split(",") if name.strip()]
        for name in names:
            provider, sep, model = name.partition(":")
            if not sep or not provider or not model:
                raise ValueError(
                    f"{name!r} is not a model id: write provider:model names, comma-separated "
                    "(e.g. openai:gpt-4.1,anthropic:claude-sonnet-4-5)"
                )
        return ",".join(names) or None

    @property
    def model_choices(self) -> tuple[str, ...]:
        """The models a run may use: QAI_MODEL (the default) first, then QAI_MODELS, once each."""
        names = [self.model.strip()] if self.model and self.model.strip() else []
        names += self.models.split(",") if self.models else []
        return tuple(dict.fromkeys(names))

    @field_validator("preview_url_template")
    @classmethod
    def _check_preview_template(cls, value: str) -> str:
        if "{sandbox}" not in value:
            raise ValueError(
                "must contain {sandbox}, e.g. http://{sandbox}.preview.localhost:{port}"
            )
        return value

    @field_validator("oidc_issuer", "oidc_redirect_url")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError("must be an http(s) URL, e.g. https://sso.example.com/realms/team")
        return value

    @property
    def oidc_problem(self) -> str | None:
        """Why single sign-on cannot work with these settings (None: off, or complete)."""
        if self.oidc_issuer is None:
            return None
        secret = self.oidc_client_secret.get_secret_value() if self.oidc_client_secret else ""
        given = {"QAI_OIDC_CLIENT_ID": self.oidc_client_id, "QAI_OIDC_CLIENT_SECRET": secret}
        missing = " and ".join(name for name, value in given.items() if not value)
        if missing:
            return (
                f"QAI_OIDC_ISSUER is set without {missing}: set them (from the client "
                "registered at the issuer), or unset QAI_OIDC_ISSUER"
            )
        if self.auth != "accounts":
            return "QAI_OIDC_ISSUER needs QAI_AUTH=accounts (single sign-on signs people in)"
        return None

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
        if field.lower() in {"database_url", "qai_database_url"}:
            env = "DATABASE_URL or QAI_DATABASE_URL"
        elif field.upper().startswith(ENV_PREFIX):
            env = field.upper()
        else:
            env = ENV_PREFIX + field.upper()
        given = item.get("input")
        shown = f"={given!r}" if isinstance(given, str | int | float) else ""
        lines.append(f"  {env}{shown}: {item['msg']}")
    return (
        "QAI cannot start: invalid settings.\n"
        + "\n".join(lines)
        + "\nFix the value in the environment or .env file (see docs/settings.md)."
    )


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment (and ``.env``), with ``overrides`` on top. Called once
    per process, by the command that starts it; everything else is handed the result."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def env_name(field: str) -> str:
    return (
        "DATABASE_URL / QAI_DATABASE_URL" if field == "database_url" else ENV_PREFIX + field.upper()
    )


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, in declaration order."""
    rows = []
    for name, info in Settings.model_fields.items():
        if info.default_factory is not None:
            default = (
                "~/.local/share/qai ($XDG_DATA_HOME/qai)" if name == "data_dir" else "computed"
            )
        elif info.default is None:
            default = "unset"
        else:
            default = str(getattr(info.default, "value", info.default))
        rows.append((env_name(name), default, info.description or ""))
    return rows
