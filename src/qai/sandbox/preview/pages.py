"""The pages a preview shows when there is no app to show: never a blank page."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

# Terminal control sequences (colours, cursor moves, window titles) that dev servers such as
# Next.js write to their logs: a page shows the text, not the codes.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor and erase
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, links
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
    r"|[\x00-\x08\x0b-\x1f\x7f]"  # what is left of control characters but tab and newline
)

_STYLE = """
body{margin:0;min-height:100vh;display:grid;place-items:center;background:#fafafa;
font:15px/1.5 system-ui,sans-serif;color:#262626}
main{max-width:52rem;width:calc(100% - 3rem)}
h1{font-size:1.1rem;margin:0 0 .5rem}
p{margin:.25rem 0;color:#525252}
pre{background:#171717;color:#e5e5e5;padding:1rem;border-radius:.5rem;overflow:auto;
font-size:12px;max-height:50vh;white-space:pre-wrap}
.spin{display:inline-block;width:.8em;height:.8em;border:2px solid #a3a3a3;
border-top-color:transparent;border-radius:50%;animation:s 1s linear infinite;margin-right:.5em}
@keyframes s{to{transform:rotate(1turn)}}
"""


def _page(title: str, body: str, *, refresh: float | None) -> str:
    meta = f'<meta http-equiv="refresh" content="{refresh:g}">' if refresh is not None else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{meta}'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def plain(text: str) -> str:
    """``text`` without terminal escape codes and control characters."""
    return _ANSI.sub("", text)


def _logs(lines: Sequence[str]) -> str:
    if not lines:
        return ""
    return "<p>Last lines of its log:</p><pre>" + escape(plain("\n".join(lines))) + "</pre>"


def starting(name: str, template: str, lines: Sequence[str]) -> str:
    body = (
        f'<h1><span class="spin"></span>Starting the preview…</h1>'
        f"<p>Sandbox <code>{escape(name)}</code> ({escape(template)}) is starting its server. "
        "This page reloads by itself.</p>" + _logs(lines)
    )
    return _page("Starting…", body, refresh=1)


def failed(name: str, detail: str, lines: Sequence[str]) -> str:
    reason = plain(detail) or "its server failed"
    body = (
        "<h1>The app is not running</h1>"
        f"<p>Sandbox <code>{escape(name)}</code>: {escape(reason)}.</p>"
        "<p>This page reloads every few seconds.</p>" + _logs(lines)
    )
    return _page("App not running", body, refresh=5)


def not_found(name: str) -> str:
    body = (
        "<h1>No such preview</h1>"
        f"<p>Nothing is known by the name <code>{escape(name)}</code>: the address is wrong, "
        "or what it showed was deleted.</p>"
    )
    return _page("No such preview", body, refresh=None)


def unavailable(name: str, message: str) -> str:
    body = (
        "<h1>The preview cannot start</h1>"
        f"<p>Sandbox <code>{escape(name)}</code>: {escape(message)}</p>"
        "<p>This page reloads every few seconds.</p>"
    )
    return _page("Preview unavailable", body, refresh=5)


def refused(heading: str, text: str, link: str, action: str) -> str:
    """A preview kept closed (one that requires sign-in): why, and the way in."""
    body = (
        f"<h1>{escape(heading)}</h1><p>{escape(text)}</p>"
        f'<p><a href="{escape(link)}" target="_top">{escape(action)}</a></p>'
    )
    return _page(heading, body, refresh=None)
