"""Sandboxes: isolated places where generated apps run, and the gateway that previews them.

Build one :class:`SandboxManager` per process with :func:`make_sandbox_manager` (and
``await manager.shutdown()`` at exit) to start, find and stop sandboxes; each :class:`Sandbox`
runs commands and reads and writes files with the return contracts written on its methods.
Mount a :class:`PreviewGateway` (through :class:`PreviewHostMiddleware`) in the web app to
serve every sandbox's server on an origin of its own; ``manager.hosts`` reads preview
addresses. See docs/sandbox.md.
"""

from qai.sandbox._base import Sandbox, SandboxManager
from qai.sandbox._errors import (
    InvalidSandboxName,
    IsolationUnavailable,
    SandboxError,
    SandboxFileNotFound,
    SandboxNameTaken,
    SandboxNotFound,
    SandboxPathError,
    TemplateNotFound,
    TemplateNotPrepared,
)
from qai.sandbox._factory import make_sandbox_manager
from qai.sandbox._model import (
    OUTPUT_LIMIT,
    READ_LIMIT,
    WORKDIR,
    CommandResult,
    PreviewSpec,
    SandboxInfo,
    SandboxStatus,
)
from qai.sandbox._templates import TEMPLATES, Template, get_template, prepare_template
from qai.sandbox.local import LocalSandbox, LocalSandboxManager
from qai.sandbox.preview import PreviewGateway, PreviewHostMiddleware, Resolve

__all__ = [
    "OUTPUT_LIMIT",
    "READ_LIMIT",
    "TEMPLATES",
    "WORKDIR",
    "CommandResult",
    "InvalidSandboxName",
    "IsolationUnavailable",
    "LocalSandbox",
    "LocalSandboxManager",
    "PreviewGateway",
    "PreviewHostMiddleware",
    "PreviewSpec",
    "Resolve",
    "Sandbox",
    "SandboxError",
    "SandboxFileNotFound",
    "SandboxInfo",
    "SandboxManager",
    "SandboxNameTaken",
    "SandboxNotFound",
    "SandboxPathError",
    "SandboxStatus",
    "Template",
    "TemplateNotFound",
    "TemplateNotPrepared",
    "get_template",
    "make_sandbox_manager",
    "prepare_template",
]
