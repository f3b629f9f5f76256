"""Preview addresses: from a sandbox name to a URL, and from a Host header back to the name.

The ``preview_url_template`` setting (default ``http://{sandbox}.preview.localhost:{port}``)
puts the sandbox in the host name, so each preview is an origin of its own. ``{sandbox}`` is
the name for the template's server, or ``<port>-<name>`` for another port of the sandbox
(names never start like that); ``{port}`` is QAI's own port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from qai.sandbox._errors import InvalidSandboxName
from qai.sandbox._model import check_name
from qai.settings import SettingsError

_PORT_LABEL = re.compile(r"^([0-9]{1,5})-(.+)$")
_MARK = "qaisandboxlabel"


@dataclass(frozen=True, slots=True)
class PreviewTarget:
    name: str
    port: int | None


class PreviewHosts:
    """The preview addresses of one ``preview_url_template`` and QAI port (a manager's
    ``hosts``): what :meth:`url` makes, :meth:`label`, :meth:`target` and :meth:`name` read."""

    def __init__(self, url_template: str, qai_port: int) -> None:
        self.url_template = url_template
        self.qai_port = qai_port
        hostname = urlsplit(url_template.replace("{sandbox}", _MARK).replace("{port}", "1"))
        host = (hostname.hostname or "").lower()
        if host.count(_MARK) != 1:
            raise SettingsError(
                f"QAI_PREVIEW_URL_TEMPLATE={url_template!r}: {{sandbox}} must be part of the "
                "host name (e.g. http://{sandbox}.preview.localhost:{port}), so that every "
                "preview is an origin of its own"
            )
        prefix, suffix = host.split(_MARK)
        # What a dev server must accept as its origin, e.g. "*.preview.localhost".
        self.wildcard = "*" + suffix if not prefix else "*" + host[host.index(".") :]
        self._pattern = re.compile("^" + re.escape(prefix) + r"([^.]+)" + re.escape(suffix) + "$")

    def url(self, name: str, port: int | None = None) -> str:
        label = name if port is None else f"{port}-{name}"
        return self.url_template.format(sandbox=label, port=self.qai_port)

    def label(self, host: str) -> str | None:
        """The ``{sandbox}`` part of a Host header under the preview domain, else None."""
        host = host.strip().lower()
        if host.startswith("["):
            return None  # an IPv6 literal is never a preview host
        host = host.rsplit(":", 1)[0] if ":" in host else host
        match = self._pattern.match(host.rstrip("."))
        return match.group(1) if match else None

    def target(self, label: str) -> PreviewTarget | None:
        """The sandbox and port a label addresses, or None if it addresses none."""
        port: int | None = None
        name = label
        if found := _PORT_LABEL.match(label):
            port, name = int(found.group(1)), found.group(2)
            if not 0 < port < 65536:
                return None
        try:
            return PreviewTarget(check_name(name), port)
        except InvalidSandboxName:
            return None

    def name(self, host: str) -> str | None:
        """The sandbox name a Host header addresses, or None if it is no preview host.

        With the default template, ``abc.preview.localhost:8000`` gives ``abc`` (and
        ``3001-abc.preview.localhost:8000``, port 3001 of ``abc``, too).
        """
        label = self.label(host)
        target = self.target(label) if label is not None else None
        return target.name if target is not None else None
