"""Turning stored text into safe HTML: Markdown answers, highlighted code, file trees, ages."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup
from pygments import highlight
from pygments.filter import Filter
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name, get_lexer_for_filename
from pygments.token import Error, Text, _TokenType
from pygments.util import ClassNotFound

from qai.checks import Problem, fix_request
from qai.common.schemas import iso_utc
from qai.messages.rules import PROMPT_MAX

HIGHLIGHT_CLASS = "hl"
LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"
# Past this size a file is shown as plain text: highlighting it would hold up the page.
HIGHLIGHT_MAX_CHARS = 200_000
# Files whose content opens the Code tab, in order of preference.
MAIN_FILES = ("app/page.tsx", "app/page.jsx", "index.html", "src/App.tsx", "src/App.jsx")


class _NoErrorMarks(Filter):
    """Pygments' lexers, its TSX one included, take TypeScript's generics in TSX
    (``useState<Expense[]>()``, ``Record<K, V>``) for tags and mark what follows as errors: a
    code view must not call valid code wrong, so what a lexer cannot place is shown plain."""

    def filter(
        self, lexer: Lexer | None, stream: Iterable[tuple[_TokenType, str]]
    ) -> Iterator[tuple[_TokenType, str]]:
        for kind, value in stream:
            yield (Text if Error in kind.split() else kind), value


# --- Markdown -------------------------------------------------------------------------------


def _highlight_fence(code: str, lang: str, _attrs: str) -> str:
    if not lang:
        return ""
    try:
        lexer = get_lexer_by_name(lang)
    except ClassNotFound:
        return ""
    lexer.add_filter(_NoErrorMarks())
    # Starting with <pre tells markdown-it to use the block as it is.
    tokens = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="{HIGHLIGHT_CLASS}"><code>{tokens}</code></pre>'


def _link_open(
    renderer: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # Links from the model open elsewhere and carry nothing of QAI with them.
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    return renderer.renderToken(tokens, idx, options, env)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # "html": False escapes any HTML the model writes; markdown-it's own link validation drops
    # javascript:, vbscript: and data: (other than images) URLs.
    md = MarkdownIt(
        "commonmark", {"html": False, "linkify": False, "highlight": _highlight_fence}
    ).enable(["table", "strikethrough"])
    md.add_render_rule("link_open", _link_open)
    return md


def markdown(text: str) -> Markup:
    """An assistant message as HTML; never contains HTML the model wrote."""
    return Markup(_markdown().render(text))


# --- code -----------------------------------------------------------------------------------


def lexer_for(path: str, content: str) -> Lexer:
    try:
        lexer: Lexer = get_lexer_for_filename(path, content)
    except ClassNotFound:
        lexer = TextLexer()
    lexer.add_filter(_NoErrorMarks())
    return lexer


def highlight_code(content: str, lexer: Lexer) -> str:
    formatter = HtmlFormatter(cssclass=HIGHLIGHT_CLASS, wrapcode=True)
    return highlight(content, lexer, formatter)


def highlight_file(path: str, content: str) -> Markup:
    """A file's content as highlighted HTML (plain, but escaped, when it is very large)."""
    if len(content) > HIGHLIGHT_MAX_CHARS:
        return Markup('<div class="{0}"><pre><code>{1}</code></pre></div>').format(
            HIGHLIGHT_CLASS, content
        )
    return Markup(highlight_code(content, lexer_for(path, content)))


@lru_cache(maxsize=1)
def highlight_css() -> str:
    """Token colours for the light theme, and for the dark one under ``[data-theme=dark]``."""
    light = _style_defs(LIGHT_STYLE, f".{HIGHLIGHT_CLASS}")
    dark = _style_defs(DARK_STYLE, f"[data-theme=dark] .{HIGHLIGHT_CLASS}")
    return f"{light}\n{dark}\n"


def _style_defs(style: str, selector: str) -> str:
    css: str = HtmlFormatter(style=style).get_style_defs(selector)  # type: ignore[no-untyped-call]
    return css


def main_file(paths: list[str]) -> str | None:
    """The file the Code tab opens first: the app's page if it has one, else the first."""
    for candidate in MAIN_FILES:
        if candidate in paths:
            return candidate
    return min(paths) if paths else None


# --- file tree ------------------------------------------------------------------------------


@dataclass
class TreeDir:
    name: str
    path: str
    dirs: dict[str, TreeDir] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def sorted_dirs(self) -> list[TreeDir]:
        return [self.dirs[name] for name in sorted(self.dirs, key=str.lower)]

    def sorted_files(self) -> list[tuple[str, str]]:
        """(name, full path) of this directory's files."""
        return sorted(
            ((posixpath.basename(path), path) for path in self.files), key=lambda f: f[0].lower()
        )


def file_tree(paths: list[str]) -> TreeDir:
    root = TreeDir(name="", path="")
    for path in paths:
        *parents, _ = path.split("/")
        node = root
        for part in parents:
            child = node.dirs.get(part)
            if child is None:
                child = TreeDir(name=part, path=posixpath.join(node.path, part))
                node.dirs[part] = child
            node = child
        node.files.append(path)
    return root


def safe_relative_path(path: str) -> str | None:
    """``path`` as a plain relative path for an archive, or None if it would escape it."""
    normal = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    if not normal or normal == "." or normal.split("/")[0] == "..":
        return None
    return normal


# --- time -----------------------------------------------------------------------------------

_UNITS = (
    ("year", 365 * 86400, "last year"),
    ("month", 30 * 86400, "last month"),
    ("day", 86400, "yesterday"),
    ("hour", 3600, None),
    ("minute", 60, None),
)


def relative_age(moment: datetime, now: datetime | None = None) -> str:
    """ "3 minutes ago", as the browser's ``Intl.RelativeTimeFormat('en', {numeric: 'auto'})``
    says it (the page re-renders these every minute in the reader's language)."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size, single in _UNITS:
        count = seconds // size
        if count >= 1:
            if count == 1:
                return single or f"1 {unit} ago"
            return f"{count} {unit}s ago"
    return "just now"


def clock(moment: datetime) -> str:
    return moment.strftime("%H:%M")


MADE_BY = {
    "agent": "by the agent",
    "restore": "restored",
    "edit": "edited by hand",
    "fork": "forked",
}


def made_by(version: Any) -> str:
    """Who made a version, as its card says it (a VersionRow: origin and author)."""
    said = MADE_BY.get(version.origin, version.origin)
    return f"{said} by {version.author}" if version.author and version.origin != "agent" else said


def jinja_filters() -> dict[str, Any]:
    return {
        "made_by": made_by,
        "markdown": markdown,
        "relative_age": relative_age,
        "iso": iso_utc,
        "clock": clock,
        "fix_request": lambda check: fix_request(check, PROMPT_MAX),
        "problem_line": lambda stored: Problem.from_json(stored).describe(),
    }


__all__ = [
    "HIGHLIGHT_CLASS",
    "TreeDir",
    "file_tree",
    "highlight_css",
    "highlight_file",
    "jinja_filters",
    "main_file",
    "markdown",
    "relative_age",
    "safe_relative_path",
]
