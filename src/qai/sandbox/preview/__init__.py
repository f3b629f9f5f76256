"""Previews: each sandbox's server on an origin of its own, behind QAI's web app."""

from qai.sandbox.preview.gateway import (
    Alias,
    PreviewGateway,
    PreviewGuard,
    PreviewHostMiddleware,
    Resolve,
)
from qai.sandbox.preview.hosts import PreviewHosts, PreviewTarget

__all__ = [
    "Alias",
    "PreviewGateway",
    "PreviewGuard",
    "PreviewHostMiddleware",
    "PreviewHosts",
    "PreviewTarget",
    "Resolve",
]
