"""Hypothesis strategies for hostile input: text with surrogates and control
characters, JSON of random structure, depth, types and sizes, documents shaped like a
provider's with any field replaced or missing, and bodies in odd encodings."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_from_bytes

from hypothesis import strategies as st

#: Characters the channels have tripped on: NUL and other controls, lone surrogates,
#: BOM, bidi overrides, the replacement character, emoji, separators.
NASTY = ["\x00", "\x01", "\x08", "\x1b", "\x7f", "\x80", "\x9f", "\r", "\n", "\t", "\u2028", "\u202e",
         "\ufeff", "\ufffd", "\ud83d", "\udc00", "\U0001f62d", "é", "–", "€", "%", "&", "=", "+", "'", "\\", '"']

_ABSENT = object()

characters = st.one_of(st.characters(), st.sampled_from(NASTY))
#: Short hostile text.
text = st.text(characters, max_size=40)
#: Text that is sometimes very long (one repeated character up to 200,000 times).
sized_text = st.one_of(
    text,
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "9", "€", "\U0001f62d", "\x00", "\ud83d"]),
              st.integers(200, 200_000)),
)
numbers = st.one_of(st.integers(), st.integers(-(10**40), 10**40), st.floats(), st.sampled_from([0, -1, 2**63]))
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
#: Any JSON value, a few levels deep.
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    """``leaf`` inside ``depth`` alternating lists and objects."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


#: A value nested anywhere from a few to 300 levels deep.
deep_values = st.builds(nested, st.integers(1, 300), scalars)


def replaced(good: Any) -> st.SearchStrategy[Any]:
    """The good value most of the time, else anything else a sender could put there."""
    return st.one_of(st.just(good), st.just(good), st.just(good), json_values, sized_text, deep_values)


def shaped(template: Any) -> st.SearchStrategy[Any]:
    """Documents shaped like ``template`` with any field kept, changed, retyped or missing."""
    if isinstance(template, dict):
        fields = {key: st.one_of(shaped(value), shaped(value), st.just(_ABSENT), json_values)
                  for key, value in template.items()}
        extra = st.dictionaries(text, json_values, max_size=2)
        return st.builds(
            lambda doc, more: {**more, **{k: v for k, v in doc.items() if v is not _ABSENT}},
            st.fixed_dictionaries(fields), extra,
        )
    if isinstance(template, list):
        return st.one_of(st.lists(shaped(template[0]), max_size=3), json_values)
    return replaced(template)


@st.composite
def json_bodies(draw: st.DrawFn, template: Any) -> bytes:
    """A JSON body: shaped like ``template`` most often, else any JSON, very deep JSON,
    broken JSON or arbitrary bytes; written in UTF-8 (lone surrogates as raw bytes or
    escapes), UTF-16 or UTF-32."""
    kind = draw(st.sampled_from(["shaped", "shaped", "shaped", "shaped", "any", "deep", "broken", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "deep":
        depth = draw(st.integers(60, 3000))
        return b'{"a":' * depth + b"1" + b"}" * depth
    doc = draw(shaped(template)) if kind == "shaped" else draw(json_values)
    escaped = draw(st.booleans())
    body = json.dumps(doc, ensure_ascii=escaped, allow_nan=draw(st.booleans())) if _finite_or_allowed(doc) else \
        json.dumps(doc, ensure_ascii=escaped)
    if kind == "broken":
        cut = draw(st.integers(0, max(len(body) - 1, 0)))
        body = body[:cut] + draw(st.sampled_from(["", "}", "]", ",", "\x00", "\ud83d", "'"]))
    codec = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "utf-32", "latin-1"]))
    return body.encode(codec, "surrogatepass" if codec.startswith("utf") else "replace")


def _finite_or_allowed(doc: Any) -> bool:
    try:
        json.dumps(doc, allow_nan=False)
    except ValueError:
        return False
    return True


#: Bytes of a field value in a form or query: text in UTF-8 (surrogates passed through), or raw bytes.
field_bytes = st.one_of(
    sized_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=60),
)


@st.composite
def form_fields(draw: st.DrawFn, good: dict[str, str], fixed: tuple[str, ...] = ()) -> list[tuple[str, bytes]]:
    """Form fields based on ``good``: each kept, changed to hostile bytes or left out, some
    repeated, some extra; the ``fixed`` ones (secrets) always as given."""
    out: list[tuple[str, bytes]] = []
    for key, value in good.items():
        if key in fixed:
            out.append((key, value.encode()))
            continue
        choice = draw(st.sampled_from(["keep", "keep", "keep", "change", "change", "drop", "twice"]))
        if choice == "keep":
            out.append((key, value.encode()))
        elif choice == "change":
            out.append((key, draw(field_bytes)))
        elif choice == "twice":
            out += [(key, draw(field_bytes)), (key, value.encode())]
    out += draw(st.lists(st.tuples(text.map(lambda t: t.encode("utf-8", "surrogatepass").decode("utf-8", "replace")),
                                   field_bytes), max_size=2))
    return out


def urlencoded(fields: list[tuple[str, bytes]]) -> str:
    """``application/x-www-form-urlencoded`` of raw field bytes (invalid UTF-8 kept as %XX)."""
    return "&".join(f"{quote(k, safe='')}={quote_from_bytes(v, safe='')}" for k, v in fields)


#: A header value requests can send (no CR, LF, NUL or leading blank).
header_values = st.one_of(
    # No leading whitespace as the client sees it (requests refuses to send such a header:
    # '\xa0' for text, '\x0b' or '\x0c' for bytes), or the test fails before any request.
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=60).map(str.lstrip),
    st.binary(max_size=40).map(lambda b: bytes(c for c in b if c not in b"\r\n\x00").lstrip()),
)
