"""Text cleaners shared by every channel: HTML to text, whitespace, control
characters and a length cap.

The cap only shortens the ``description`` a complaint carries on the wire; the
full text always stays in the raw archive the complaint points at (``raw_ref``).
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

#: Default cap on a complaint's description, in characters.
MAX_DESCRIPTION_CHARS = 10_000
#: Default cap on a complaint's title, in characters.
MAX_TITLE_CHARS = 300

_BLOCK_TAGS = frozenset(
    ["address", "article", "aside", "blockquote", "div", "dl", "dt", "dd", "fieldset", "figcaption", "figure",
     "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
     "section", "table", "tr", "ul"]
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Only runs of two or more, or odd spaces: rewriting every single space is wasted work.
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]{2,}|[\t\u00a0\u2000-\u200a\u3000]")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag == "br" or tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS or tag == "td":
            self.parts.append("\n" if tag != "td" else " ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Return the readable text of an HTML fragment or document.

    Scripts, styles and the head are removed; block elements and ``<br>`` become
    line breaks; entities are decoded. The result is not yet whitespace-cleaned.
    """
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def clean_text(value: str, max_chars: int | None = MAX_DESCRIPTION_CHARS) -> tuple[str, bool]:
    """Normalise ``value`` and cap its length.

    Unicode is NFC-normalised, HTML entities left in plain text (``&amp;``) are
    decoded, NUL becomes a space, other control and invisible direction characters
    are removed, runs of spaces are squeezed and more than one blank line is folded.

    Returns:
        The cleaned text and whether it was truncated.
    """
    text = unicodedata.normalize("NFC", value)
    if "&" in text:
        text = html.unescape(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # A NUL stands where a gateway or form lost a character, often between words:
    # "jalan\0rusak" must read "jalan rusak", not "jalanrusak".
    text = text.replace("\x00", " ")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    if max_chars is not None and len(text) > max_chars:
        return text[: max_chars - 1].rstrip() + "…", True
    return text, False


def clean_line(value: str, max_chars: int = MAX_TITLE_CHARS) -> str:
    """Clean a one-line field (a title, a name): no line breaks, capped."""
    text, _ = clean_text(value.replace("\n", " "), max_chars)
    return text
