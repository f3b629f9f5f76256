"""A fragment's title (at most three words) and the short friendly reply shown to the user.

With ``QAI_SMALL_MODEL`` set, a small model writes them (one durable step); without it, or if
that model fails, they are derived from the prompt and the summary without a model call.
"""

from __future__ import annotations

import logging
import re

from dbos import DBOS
from pydantic_ai import Agent
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings

log = logging.getLogger("qai.agent")

_FILLER = {
    "a",
    "an",
    "the",
    "me",
    "my",
    "us",
    "our",
    "i",
    "we",
    "you",
    "please",
    "can",
    "could",
    "would",
    "want",
    "need",
    "like",
    "let",
    "lets",
    "let's",
    "build",
    "create",
    "make",
    "write",
    "design",
    "generate",
    "develop",
    "code",
    "implement",
    "add",
    "give",
    "show",
    "some",
    "simple",
    "basic",
    "quick",
    "small",
    "new",
    "nice",
    "beautiful",
    "cool",
    "modern",
    "just",
    "to",
    "do",
    "of",
    "that",
    "is",
    "it",
    "and",
    "now",
}
_STOP = {
    "with",
    "for",
    "that",
    "which",
    "using",
    "in",
    "on",
    "where",
    "so",
    "like",
    "from",
    "by",
    "including",
    "to",
    "and",
    "but",
    "then",
}
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'+#.-]*")

TITLE_PROMPT = (
    "Write a title of at most three words for the web app described below. Reply with the "
    "title only: no quotes, no punctuation at the end."
)
REPLY_PROMPT = (
    "Write a short, friendly message (one to three sentences, no markdown, no code) telling the "
    "user what was just built for them, based on the summary below. Talk to the user directly."
)


def derive_title(prompt: str, summary: str) -> str:
    """Up to three meaningful words of the request, in title case."""
    for text in (prompt, summary):
        words: list[str] = []
        for raw in _WORD.findall(text):
            word = raw.strip(".-'").lower()
            if not word:
                continue
            if words and word in _STOP:
                break
            if word in _FILLER or word in _STOP:
                continue
            words.append(word)
            if len(words) == 3:
                break
        if words:
            return " ".join(w if any(c.isupper() for c in w) else w.capitalize() for w in words)
    return "Untitled App"


def derive_reply(summary: str) -> str:
    text = " ".join(line.strip(" -*#\t") for line in summary.splitlines() if line.strip())
    sentences = re.split(r"(?<=[.!?])\s+", text)
    gist = " ".join(sentences[:2]).strip()
    if len(gist) > 400:
        gist = gist[:397].rstrip() + "..."
    if gist and gist[-1] not in ".!?":
        gist += "."
    opening = f"Here it is! {gist}" if gist else "Here it is!"
    return f"{opening} Try it in the preview, and tell me what to change next."


def clean_title(text: str) -> str | None:
    words = _WORD.findall(text.strip().strip("\"'"))[:3]
    return " ".join(words) if words else None


@DBOS.step(name="qai.agent.name_and_reply")
async def name_and_reply(
    model: Model | None, settings: ModelSettings, prompt: str, summary: str
) -> tuple[str, str]:
    """(title, reply): from the small model if there is one, else derived."""
    title, reply = derive_title(prompt, summary), derive_reply(summary)
    if model is None:
        return title, reply
    writer: Agent[None, str] = Agent(model, model_settings=settings)
    try:
        title_run = await writer.run(f"{TITLE_PROMPT}\n\nRequest: {prompt}\n\nSummary: {summary}")
        title = clean_title(title_run.output) or title
        reply_run = await writer.run(f"{REPLY_PROMPT}\n\nSummary: {summary}")
        reply = reply_run.output.strip() or reply
    except Exception as exc:
        # A title and a reply are niceties: the app was built, so derived ones will do.
        log.warning("small model failed to name the fragment (%s); using derived text", exc)
    return title, reply
