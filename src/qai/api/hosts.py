"""Whom a request is for, and where a write comes from.

DNS rebinding: a page of another site can point its own name at QAI's address, and the browser
then sends that site's name as the ``Host``. Answering only QAI's own names keeps such a page
out. Cross-site writes: a browser says which origin a request comes from (``Origin``, and
``Sec-Fetch-Site``); a write from any other origin (another site, or a preview, whose generated
code must never act as the user) is refused. Clients that are not browsers (the CLI, the Python
client, curl) send neither header, cannot be made to by a page, and are not affected.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from qai.sandbox.preview import PreviewHosts

# Methods that change nothing, so a request from another origin cannot harm (RFC 9110, 9.2.1).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Answered whatever the Host: load balancers probe it by addresses and names of their own, and
# it tells nothing but that the process is up.
ANY_HOST_PATHS = frozenset({"/healthz"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
_PORT = re.compile(r"[0-9]{1,5}")
_SHOWN = 120  # characters of a header quoted back in an error message


def host_name(authority: str) -> str | None:
    """The name of a ``Host`` header or an origin's ``host[:port]``: lowercased, without the
    port, the brackets of an IPv6 address or a trailing dot; None when it is malformed."""
    value = authority.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1 :]
        if rest and not (rest[0] == ":" and _PORT.fullmatch(rest[1:])):
            return None
        return name
    name, colon, port = value.partition(":")
    if colon and not _PORT.fullmatch(port):
        return None
    return name.rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _in_header(name: str) -> str:
    return f"[{name}]" if ":" in name else name


def _quoted(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


class HostPolicy:
    """QAI's own host names, and which origins may write.

    The names answered are the bind address (``QAI_HOST``; with a wildcard bind, any IP
    address: a rebinding page needs a name, and a browser that was given an address has that
    address as its origin), ``localhost``, ``127.0.0.1``, ``::1`` and ``allowed_hosts``, on any
    port. A request without a Host (HTTP/1.0) is answered: browsers always send one. Preview
    hosts never reach this check (the preview middleware in front takes them), but an origin on
    one is refused for writes.
    """

    def __init__(
        self, *, bind_host: str, port: int, allowed_hosts: Iterable[str], previews: PreviewHosts
    ) -> None:
        self.configured = frozenset(name.lower() for name in allowed_hosts)
        self.any_address = bind_host in _WILDCARD_BINDS
        names = {*LOOPBACK_NAMES, *self.configured}
        if not self.any_address:
            names.add(bind_host.strip("[]").lower())
        self.names = frozenset(names)
        self.previews = previews
        # The Host headers browsers send for QAI's names on its own port, matched as bytes.
        self._usual = frozenset(
            form.encode()
            for name in self.names
            for form in (_in_header(name), f"{_in_header(name)}:{port}")
        )

    def answers(self, host: bytes) -> bool:
        """Whether a request with this ``Host`` header is for QAI (an empty one is, as none)."""
        if host in self._usual:
            return True
        name = host_name(host.decode("latin-1"))
        if name is None:
            return False
        return not name or name in self.names or (self.any_address and _is_address(name))

    def host_refusal(self, host: bytes) -> str:
        """Why a request for ``host`` is not answered, and how to make QAI answer it."""
        # The names are not listed: the bind address and the configured names are the
        # deployment's business, not that of whoever sends a wrong Host.
        return (
            f"Host {_quoted(host.decode('latin-1'))} is not one of QAI's host names (the bind "
            "address, localhost, 127.0.0.1, [::1]); to serve QAI under that name, add it to "
            "QAI_ALLOWED_HOSTS"
        )

    def write_refusal(
        self, host: bytes | None, origin: bytes | None, fetch_site: bytes | None
    ) -> str | None:
        """Why a state-changing request with these headers is refused, or None: it may go on.

        A write may come from QAI's own origin (the ``Origin`` names the Host the request was
        sent to, or a name of ``allowed_hosts``), or from a client that sends neither
        ``Origin`` nor a cross-site or same-site ``Sec-Fetch-Site``.
        """
        if origin is not None:
            if host is not None and origin in (b"http://" + host, b"https://" + host):
                refusal = None  # the usual case, QAI's own page, told without parsing
            else:
                refusal = self._origin_refusal(origin.decode("latin-1").strip(), host)
            if refusal is not None or fetch_site != b"cross-site":
                return refusal
        if fetch_site in (b"cross-site", b"same-site"):
            return (
                f"Write refused: the request comes from another site (Sec-Fetch-Site: "
                f"{fetch_site.decode('latin-1')}); QAI accepts writes from its own pages"
            )
        return None

    def _origin_refusal(self, origin: str, host: bytes | None) -> str | None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return (
                f"Write refused: the request comes from an opaque origin (Origin: "
                f"{_quoted(origin)}); QAI accepts writes from its own pages"
            )
        authority = parts.netloc.lower()
        if self.previews.label(authority) is not None:
            return (
                f"Write refused: the request comes from a preview (Origin: {_quoted(origin)}); "
                "a preview's code cannot act on QAI"
            )
        if host is not None and authority == host.decode("latin-1").strip().lower():
            return None
        if host_name(authority) in self.configured:
            return None
        return (
            f"Write refused: the request comes from another site (Origin: {_quoted(origin)}); "
            "QAI accepts writes from its own pages and from the names in QAI_ALLOWED_HOSTS"
        )
