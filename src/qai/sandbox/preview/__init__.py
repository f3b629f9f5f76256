"""Previews: each sandbox's server on an origin of its own, behind QAI's web app."""

from qai.sandbox.preview.gateway import Alias, PreviewGateway, PreviewHostMiddleware, Resolve
from qai.sandbox.preview.hosts import PreviewHosts, PreviewTarget

__all__ = [
    "Alias",
    "PreviewGateway",
    "PreviewHostMiddleware",
    "PreviewHosts",
    "PreviewTarget",
    "Resolve",
]
