"""Text primitives for Slack messages that an attacker cannot write into.

Every CloudTrail-derived value (user agent, principal, request values, error
messages) is attacker-controlled. In mrkdwn text each one is: stripped of
control, bidi and zero-width characters; escaped (`&`, `<`, `>`) so
`<!channel>`, `<@U123>` and `<http://evil|bank>` show as text; put inside an
inline code span (no bold/links/mentions there, and backticks in the value
are replaced so it cannot close the span); and clipped after escaping so the
limits hold. Text objects are `verbatim` so Slack does not auto-link URLs or
names.

Slack limits kept: 50 blocks, 3000 characters per section text, 2000 per
field, 150 for a plain_text header, about 40k for the whole message.
"""

from __future__ import annotations

import unicodedata
from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_FIELD_CHARS = 2000
MAX_HEADER_CHARS = 150
MAX_MESSAGE_CHARS = 39_000

# Bidi overrides/isolates and zero-width characters can make text read differently than it is.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                       "\u2060\u2066\u2067\u2068\u2069\ufeff")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def sanitize(text: str, *, multiline: bool = False) -> str:
    """Replace control, bidi and zero-width characters; keep newlines only when asked."""
    out: list[str] = []
    for char in text:
        if char == "\n" and multiline:
            out.append(char)
        elif char in _INVISIBLE:
            out.append("\ufffd")
        elif unicodedata.category(char) in ("Cc", "Cs"):
            out.append(" " if char in "\t\n\r" else "\ufffd")
        else:
            out.append(char)
    return "".join(out)


def escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def clip_escaped(text: str, limit: int) -> str:
    """Escape `text` and cut it so the *escaped* result fits in `limit` (never inside an entity)."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for char in text:
        piece = _ESCAPES.get(char, char)
        if used + len(piece) > limit - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + "…"


def code(value: str, limit: int = 300) -> str:
    """An attacker-controlled value as an inline code span: inert, escaped, clipped."""
    clean = sanitize(value).strip().replace("`", "\u02cb")
    if not clean:
        return "-"
    return "`" + clip_escaped(clean, max(limit - 2, 4)) + "`"


def text_block(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION_CHARS], "verbatim": True}}


def plain(text: str, limit: int) -> str:
    clean = " ".join(sanitize(text).split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
