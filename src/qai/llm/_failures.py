"""A model provider's failure, said in plain words with what to do about it."""

from __future__ import annotations

from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelContextWindowExceededError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelQuotaExceededError,
    ModelRateLimitError,
    ModelRequestTimeout,
    ModelTimeoutError,
    UnexpectedModelBehavior,
)


def describe_failure(exc: BaseException, *, model_id: str | None = None) -> str | None:
    """What went wrong with the model and what to do, or None if ``exc`` is no model failure."""
    model = f" ({model_id})" if model_id else ""
    if isinstance(exc, ModelAuthenticationError):
        return (
            f"The model provider rejected the API key{model}. Check the key "
            "(OPENAI_API_KEY or ANTHROPIC_API_KEY) and restart QAI, then send your message again."
        )
    if isinstance(exc, ModelNotFoundError):
        return (
            f"The model provider does not know this model{model}. Check QAI_MODEL "
            "(see docs/models.md), restart QAI and send your message again."
        )
    if isinstance(exc, ModelQuotaExceededError):
        return (
            f"The model provider refused the request: the account's quota or credit is used up"
            f"{model}. Add credit or use another model, then try again."
        )
    if isinstance(exc, ModelRateLimitError):
        return (
            f"The model provider is rate-limiting QAI{model} and kept refusing after retries. "
            "Wait a minute and send your message again."
        )
    if isinstance(exc, ModelContextWindowExceededError):
        return (
            f"The conversation is too long for the model{model}. Start a new project, or lower "
            "QAI_MEMORY_CHARS so less history is sent."
        )
    if isinstance(exc, ModelTimeoutError | ModelRequestTimeout):
        return (
            f"The model did not answer in time{model}, even after retries. Try again in a "
            "moment; if it keeps happening, check the provider or raise QAI_MODEL_TIMEOUT_SECONDS."
        )
    if isinstance(exc, ModelConnectionError):
        return (
            f"QAI could not reach the model provider{model}. Check the network, the base URL "
            "(QAI_OPENAI_BASE_URL, QAI_OLLAMA_BASE_URL) and that the server is running, then "
            "try again."
        )
    if isinstance(exc, ModelHTTPError) and exc.status_code >= 500:
        return (
            f"The model provider kept failing (HTTP {exc.status_code}) even after retries"
            f"{model}. Try again in a moment."
        )
    if isinstance(exc, ModelHTTPError):
        return (
            f"The model provider refused the request (HTTP {exc.status_code}){model}: "
            f"{_short(exc.message)}. Check QAI_MODEL and the provider's settings."
        )
    if isinstance(exc, ModelAPIError):
        return f"The model provider failed{model}: {_short(exc.message)}. Try again in a moment."
    if isinstance(exc, UnexpectedModelBehavior):
        return (
            f"The model's answer could not be used{model}: {_short(exc.message)}. Try again, "
            "perhaps with a simpler request or another model."
        )
    return None


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
