"""Errors of the sandbox package; each carries its code and HTTP status (see ``qai.errors``)."""

from __future__ import annotations

from typing import ClassVar

from qai.errors import ErrorCode, QaiError


class SandboxError(QaiError):
    """A sandbox could not do what was asked (start, run, reach its server)."""

    code: ClassVar[ErrorCode] = "SERVICE_UNAVAILABLE"
    default_message = "The sandbox failed"


class SandboxNotFound(SandboxError):
    code = "NOT_FOUND"
    default_message = "No running sandbox has that name"


class InvalidSandboxName(SandboxError):
    code = "BAD_REQUEST"
    default_message = "Invalid sandbox name"


class SandboxNameTaken(SandboxError):
    code = "CONFLICT"
    default_message = "A sandbox with that name already runs"


class SandboxPathError(SandboxError):
    """A path given to write/read leads outside the sandbox, or is not a usable file path."""

    code = "BAD_REQUEST"
    default_message = "Invalid sandbox path"


class SandboxFileNotFound(SandboxError):
    code = "NOT_FOUND"
    default_message = "No such file in the sandbox"


class TemplateNotFound(SandboxError):
    code = "BAD_REQUEST"
    default_message = "Unknown sandbox template"


class TemplateNotPrepared(SandboxError):
    default_message = "The template's dependencies are not installed"


class IsolationUnavailable(SandboxError):
    """Sandboxes cannot be isolated on this machine; the message says how to fix it."""

    default_message = (
        "Sandboxes need bubblewrap: install it with `apt-get install bubblewrap`, or set "
        "QAI_SANDBOX_ISOLATION=none to run generated code unisolated (development only)"
    )
