"""Models by id (``provider:model``), chosen from settings in one place, and their failures in
plain words. Imports no domain code."""

from qai.llm._failures import describe_failure
from qai.llm._models import (
    NO_MODEL_CONFIGURED,
    SUPPORTED_PROVIDERS,
    ModelChoice,
    ModelNotOffered,
    Models,
    choose_model,
    choose_models,
    model_settings,
)

__all__ = [
    "NO_MODEL_CONFIGURED",
    "SUPPORTED_PROVIDERS",
    "ModelChoice",
    "ModelNotOffered",
    "Models",
    "choose_model",
    "choose_models",
    "describe_failure",
    "model_settings",
]
