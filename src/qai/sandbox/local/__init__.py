"""The local backend: sandboxes on this machine, under bubblewrap (see ``isolation``)."""

from qai.sandbox.local.manager import LocalSandboxManager
from qai.sandbox.local.sandbox import LocalSandbox

__all__ = ["LocalSandbox", "LocalSandboxManager"]
