"""A gazetteer of streets and landmarks learned from history rows that carry a kelurahan.

A landmark is a marker word (jalan, stasiun, pasar, terminal, halte, sekolah, RS,
masjid, gang...) followed by one to three words: "jl kemang raya", "stasiun tebet",
"sdn 01 pagi". A phrase is kept when it was seen at least ``min_count`` times and at
least ``min_share`` of those rows name the same kelurahan. At routing time the
longest known phrase in a text gives the kelurahan, used only when the text names none.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

_WORD = re.compile(r"[a-z0-9]+")
_MARKERS = {
    "jl": "jl", "jln": "jl", "jalan": "jl", "stasiun": "stasiun", "st": "stasiun", "pasar": "pasar", "psr": "pasar",
    "terminal": "terminal", "halte": "halte", "sdn": "sdn", "sd": "sd", "smp": "smp", "smpn": "smpn", "sma": "sma",
    "sman": "sman", "smk": "smk", "rs": "rs", "rsud": "rsud", "masjid": "masjid", "gang": "gg", "gg": "gg",
    "puskesmas": "puskesmas", "taman": "taman", "rptra": "rptra", "mall": "mall", "komplek": "komplek",
    "perumahan": "perumahan", "apartemen": "apartemen",
}
_STOP = frozenset({"di", "ke", "dari", "dan", "yang", "yg", "udah", "sudah", "ada", "depan", "dpn", "rt", "rw",
                   "kel", "kelurahan", "kec", "kecamatan", "arah", "dekat", "deket", "itu", "ini", "sama"})
_MAX_WORDS = 3


def phrases(text: str) -> list[str]:
    """Candidate landmark phrases in ``text`` (marker + 1..3 words), longest first per position."""
    words = _WORD.findall(text.lower())
    out = []
    for i, w in enumerate(words):
        marker = _MARKERS.get(w)
        if marker is None:
            continue
        tail: list[str] = []
        for nxt in words[i + 1 : i + 1 + _MAX_WORDS]:
            if nxt in _STOP or nxt in _MARKERS:
                break
            tail.append(nxt)
        out.extend(" ".join([marker, *tail[:n]]) for n in range(len(tail), 0, -1))
    return out


def learn_landmarks(rows: Iterable, min_count: int = 2, min_share: float = 0.8) -> dict[str, str]:
    """Phrase -> kelurahan from rows with both text and kelurahan (see the module docstring)."""
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        kel = " ".join(str(getattr(row, "kelurahan", "") or "").split())
        if not kel:
            continue
        for phrase in set(phrases(row.text)):
            seen[phrase][kel.title()] += 1
    learned = {}
    for phrase, counts in seen.items():
        kel, n = counts.most_common(1)[0]
        total = sum(counts.values())
        if total >= min_count and n / total >= min_share:
            learned[phrase] = kel
    return learned


def find_landmark(text: str, landmarks: Mapping[str, str]) -> tuple[str, str] | None:
    """The first (longest) known landmark in ``text`` and its kelurahan, or None."""
    for phrase in phrases(text):
        kel = landmarks.get(phrase)
        if kel is not None:
            return phrase, kel
    return None
