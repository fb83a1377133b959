"""Find Jakarta place names in free text: kota, kecamatan and kelurahan, with the
abbreviations and spelling variants citizens use (Jaksel, Kby Baru, Tj. Priok,
Kramatjati / Kramat Jati, Pasming...).

Text and names are compared as lower-case words joined without spaces, after
expanding abbreviations word by word, so "Kby. Baru", "kebayoran baru" and
"KebayoranBaru" are the same key. The longest name wins ("Kebon Jeruk" over
"Jeruk", "Cipinang Besar Utara" over "Cipinang").
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from router.areas import AreaIndex

#: Word-level abbreviations; applied to names and text alike.
ABBREVIATIONS = {
    "kby": "kebayoran", "keb": "kebayoran", "kebay": "kebayoran", "tj": "tanjung", "tg": "tanjung",
    "ps": "pasar", "psr": "pasar", "tn": "tanah", "klp": "kelapa", "kp": "kampung", "kb": "kebon",
    "pl": "pulau", "jkt": "jakarta", "ut": "utara", "utr": "utara", "sel": "selatan",
    "sltn": "selatan", "slt": "selatan", "brt": "barat", "tmr": "timur",
    "br": "baru", "priuk": "priok", "makassar": "makasar", "pdk": "pondok",
    "pd": "pondok", "cemp": "cempaka", "kec": "kecamatan", "kel": "kelurahan", "kelr": "kelurahan",
    "jln": "jalan", "jl": "jalan", "kab": "kabupaten", "adm": "administrasi", "kota": "kota",
    "dki": "dki", "kodya": "kota", "kotamadya": "kota", "kep": "kepulauan",
}
#: Informal names that are not a word-by-word abbreviation, key -> official name.
ALIASES = {
    "jakpus": "jakarta pusat", "jakut": "jakarta utara", "jakbar": "jakarta barat",
    "jaksel": "jakarta selatan", "jaktim": "jakarta timur", "central jakarta": "jakarta pusat",
    "north jakarta": "jakarta utara", "west jakarta": "jakarta barat",
    "south jakarta": "jakarta selatan", "east jakarta": "jakarta timur",
    "pulau seribu": "kepulauan seribu", "thousand islands": "kepulauan seribu",
    "pasming": "pasar minggu", "benhil": "bendungan hilir", "jatinegara kaum": "jatinegara kaum",
    "halim": "halim perdana kusuma", "mampang": "mampang prapatan",
    "kelapa gading": "kelapa gading", "grogol petamburan": "grogol petamburan",
    "tanjung priuk": "tanjung priok", "kebon jeruk": "kebon jeruk",
    # Landmarks people use as place names, each inside one kelurahan.
    "blok m": "melawai", "monas": "gambir", "gbk": "gelora", "kota tua": "pinangsia",
    "pondok indah": "pondok pinang", "kalibata city": "rawajati",
}
#: Kelurahan names that are ordinary words: they count only after "kel." or next to
#: their kecamatan or kota.
GENERIC_NAMES = frozenset({
    "baru", "tengah", "gunung", "pulo", "karet", "jati", "dukuh", "kramat", "gedong", "setu",
    "kapuk", "kamal", "angke", "guntur", "bangka", "galur", "gelora", "kartini", "kenari",
    "serdang", "tangki", "selong", "susukan", "rambutan", "cipinang", "bintaro", "cibubur",
    "pekayon",
})
_WORD = re.compile(r"[a-z0-9]+|[,;:!?()\n]")
_MARKERS = {"kelurahan": "kelurahan", "kecamatan": "kecamatan", "desa": "kelurahan"}
#: Words before a name that make it a landmark's name (Kali Grogol, Jl. Kebon Sirih,
#: Stasiun Manggarai): weaker evidence than a bare place name.
_LANDMARK = frozenset({"jalan", "gang", "gg", "kali", "sungai", "stasiun", "halte", "terminal", "tol",
                       "waduk", "situ", "tpu", "flyover", "underpass", "koridor"})
_MAX_WORDS = 5


@dataclass(frozen=True, slots=True)
class Mention:
    """A place name found in text: every area code it can mean, and its context."""

    text: str
    codes: tuple[str, ...]
    marker: str | None
    in_street_name: bool


def expand(words: list[str]) -> list[str]:
    """Expand abbreviations word by word."""
    return [ABBREVIATIONS.get(w, w) for w in words]


def key_of(name: str) -> str:
    """Matching key of a name: lower case, abbreviations expanded, no spaces."""
    words = expand(re.findall(r"[a-z0-9]+", name.lower()))
    joined = " ".join(words)
    joined = ALIASES.get(joined, joined)
    return joined.replace(" ", "")


class Gazetteer:
    """Place-name lookup built from the area index."""

    def __init__(self, index: AreaIndex) -> None:
        self.index = index
        self.keys: dict[str, set[str]] = defaultdict(set)
        for area in index.areas.values():
            if area.level == "provinsi":
                continue
            for name in _names_of(area.name, area.level):
                self.keys[key_of(name)].add(area.code)
        for alias, official in ALIASES.items():
            target = key_of(official)
            if target in self.keys:
                self.keys[alias.replace(" ", "")] |= self.keys[target]
        self._codes = {key: tuple(sorted(codes)) for key, codes in self.keys.items()}
        # Every leading part of a key: a scan stops as soon as the words so far begin no name,
        # which at most positions of a text is after the first dictionary miss.
        self._prefixes = frozenset(key[:n] for key in self._codes for n in range(1, len(key) + 1))

    def mentions(self, text: str) -> list[Mention]:
        """Every place name in ``text``, longest match first, in text order."""
        words = expand(_WORD.findall(text.lower()))
        found: list[Mention] = []
        prefixes = self._prefixes
        i = 0
        while i < len(words):
            # Most words begin no name: tested here, without a call to _longest_at for each.
            hit = self._longest_at(words, i) if words[i] in prefixes else None
            if hit is None:
                i += 1
                continue
            n, codes = hit
            previous = words[i - 1] if i else ""
            if previous == ":" and i > 1:  # "Kecamatan: Menteng", as forms print it
                previous = words[i - 2]
            marker = _MARKERS.get(previous)
            if marker is None and previous == "kota":
                marker = "kota"
            found.append(Mention(" ".join(words[i : i + n]), codes, marker, previous in _LANDMARK))
            i += n
        return found

    def _longest_at(self, words: list[str], i: int) -> tuple[int, tuple[str, ...]] | None:
        best = None
        joined = ""
        for n, word in enumerate(words[i : i + _MAX_WORDS], start=1):
            joined += word  # punctuation tokens never occur in a key, so they end the scan too
            if joined not in self._prefixes:
                break
            codes = self._codes.get(joined)
            if codes:
                best = n, codes
        return best

    def is_generic(self, mention: Mention) -> bool:
        """True when the mention is a kelurahan name that is also an ordinary word."""
        return mention.text.replace(" ", "") in GENERIC_NAMES


def _names_of(name: str, level: str) -> list[str]:
    names = [name]
    for prefix in ("Kota Administrasi ", "Kabupaten Administrasi "):
        if name.startswith(prefix):
            names.append(name.removeprefix(prefix))
    return names
