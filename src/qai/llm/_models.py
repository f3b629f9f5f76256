"""Build the pydantic-ai model a setting names; explain, never crash, when it cannot be built."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pydantic_ai.exceptions import UserError
from pydantic_ai.models import Model, infer_model
from pydantic_ai.settings import ModelSettings

from qai.errors import BadRequest
from qai.settings import Settings

NO_MODEL_CONFIGURED = (
    "No model configured: set QAI_MODEL=openai:gpt-4.1 and OPENAI_API_KEY, or "
    "QAI_MODEL=ollama:<model> with a running Ollama, then restart QAI (`make serve` in a "
    "checkout, `qai serve` where QAI is installed; see docs/models.md)."
)

SUPPORTED_PROVIDERS = ("openai", "openai-chat", "anthropic", "ollama")


@dataclass
class ModelChoice:
    """The model a setting names: ``model`` is None and ``problem`` says why (and how to fix it)
    when it cannot be used. Between ``open`` and ``aclose`` the model keeps one HTTP client."""

    id: str | None
    model: Model | None
    problem: str | None = None
    _opened: bool = field(default=False, repr=False)

    async def open(self) -> None:
        if self.model is not None and not self._opened:
            await self.model.__aenter__()
            self._opened = True

    async def aclose(self) -> None:
        if self.model is not None and self._opened:
            self._opened = False
            await self.model.__aexit__(None, None, None)


def choose_model(settings: Settings, *, small: bool = False) -> ModelChoice:
    """The main model (``QAI_MODEL``) or the one for titles and replies (``QAI_SMALL_MODEL``).

    An unset small model is not a problem: callers fall back to work without a model call.
    """
    model_id = settings.small_model if small else settings.model
    return _choice(
        model_id, settings, setting="QAI_SMALL_MODEL" if small else "QAI_MODEL", required=not small
    )


def _choice(
    model_id: str | None, settings: Settings, *, setting: str, required: bool
) -> ModelChoice:
    if not model_id or not model_id.strip():
        return ModelChoice(None, None, NO_MODEL_CONFIGURED if required else None)
    model_id = model_id.strip()
    provider, sep, name = model_id.partition(":")
    if not sep or not name:
        return ModelChoice(
            model_id,
            None,
            f"{setting}={model_id!r} is not a model id: write provider:model, e.g. "
            "openai:gpt-4.1, anthropic:claude-sonnet-4-5 or ollama:qwen2.5-coder.",
        )
    try:
        return ModelChoice(model_id, _build(provider, name, settings))
    except _MissingKey as exc:
        return ModelChoice(model_id, None, str(exc))
    except UserError as exc:
        return ModelChoice(
            model_id,
            None,
            f"{setting}={model_id!r} cannot be used: {exc}. Supported providers: "
            + ", ".join(SUPPORTED_PROVIDERS)
            + " (see docs/models.md).",
        )


def model_settings(settings: Settings) -> ModelSettings:
    return ModelSettings(
        temperature=settings.model_temperature,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
    )


class _MissingKey(Exception):
    pass


def _build(provider: str, name: str, settings: Settings) -> Model:
    if provider in ("openai", "openai-chat"):
        from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider

        key = os.environ.get("OPENAI_API_KEY")
        if not key and not settings.openai_base_url:
            raise _MissingKey(
                f"QAI_MODEL={provider}:{name} needs an API key: set OPENAI_API_KEY, or set "
                "QAI_OPENAI_BASE_URL to use a local OpenAI-compatible server."
            )
        openai = OpenAIProvider(base_url=settings.openai_base_url, api_key=key or "not-needed")
        if provider == "openai-chat":
            return OpenAIChatModel(name, provider=openai)
        return OpenAIResponsesModel(name, provider=openai)
    if provider == "anthropic":
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise _MissingKey(
                f"QAI_MODEL=anthropic:{name} needs an API key: set ANTHROPIC_API_KEY."
            )
        return AnthropicModel(name, provider=AnthropicProvider(api_key=key))
    if provider == "ollama":
        from pydantic_ai.models.ollama import OllamaModel
        from pydantic_ai.providers.ollama import OllamaProvider

        return OllamaModel(name, provider=OllamaProvider(base_url=settings.ollama_base_url))
    # Any other provider pydantic-ai knows (installed extras permitting), with its own env vars.
    return infer_model(f"{provider}:{name}")


class ModelNotOffered(BadRequest):
    """A run asked for a model this server does not offer (QAI_MODEL, QAI_MODELS)."""


@dataclass
class Models:
    """A process's models: the main one (the default of every run), the others people may pick
    (``QAI_MODELS``), the small one, and the settings of their requests."""

    main: ModelChoice
    small: ModelChoice
    request_settings: ModelSettings
    others: dict[str, ModelChoice] = field(default_factory=dict)

    @property
    def offered(self) -> tuple[str, ...]:
        """The ids a run may ask for, the default first (empty: no model configured)."""
        first = (self.main.id,) if self.main.id is not None else ()
        return (*first, *self.others)

    def pick(self, model_id: str | None) -> ModelChoice | None:
        """The model of a run that asked for ``model_id`` (None: the main one); None when it
        is not offered (any more: a run recorded before the settings changed)."""
        if model_id is None or model_id == self.main.id:
            return self.main
        return self.others.get(model_id)

    def resolve(self, requested: str | None) -> str | None:
        """The id a new run records: ``requested`` if it is offered, else the default; raises
        :class:`ModelNotOffered` (400, naming the offered ones) for any other."""
        if requested is None:
            return self.main.id
        if requested not in self.offered:
            offered = ", ".join(self.offered) or "none (no model is configured)"
            message = (
                f"The model {requested!r} is not offered on this server; choose one of: {offered}"
            )
            raise ModelNotOffered(message, issues=[{"path": ["model"], "message": message}])
        return requested

    def _all(self) -> list[ModelChoice]:
        return [self.main, self.small, *self.others.values()]

    async def open(self) -> None:
        for choice in self._all():
            await choice.open()

    async def aclose(self) -> None:
        for choice in self._all():
            await choice.aclose()


def choose_models(
    settings: Settings, *, main: Model | None = None, small: Model | None = None
) -> Models:
    """The models the settings name; ``main`` / ``small`` replace QAI_MODEL and QAI_SMALL_MODEL
    (tests script them). The main model is QAI_MODEL, or the first of QAI_MODELS without it."""
    names = settings.model_choices
    if main is not None:
        chosen = ModelChoice("test:scripted", main)
        others = [name for name in names if name != settings.model]
    else:
        chosen = _choice(names[0] if names else None, settings, setting="QAI_MODEL", required=True)
        others = list(names[1:])
    return Models(
        main=chosen,
        small=(
            ModelChoice("test:scripted-small", small)
            if small is not None
            else choose_model(settings, small=True)
        ),
        request_settings=model_settings(settings),
        others={
            name: _choice(name, settings, setting="QAI_MODELS", required=True) for name in others
        },
    )
