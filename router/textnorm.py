"""Complaint text -> a tuple of normalised tokens the rules are matched against.

Citizens write informally: "jln bolong gede bgt", "tlg dong got mampet", mixed with
English. The pipeline is: lower-case, drop URLs, @mentions and e-mail addresses,
split on non-letters/digits, squeeze letters repeated three times or more
("bangettt" -> "banget"), map slang and abbreviations to a standard word, then stem
with PySastrawi ("berlubang" -> "lubang", "tersumbat" -> "sumbat").

Stemming is cached per token: complaint vocabulary is small and repeats, so after a
warm-up nearly every token is a dictionary hit, which is what makes thousands of
classifications per second possible on one core.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

_DROP = re.compile(r"https?://\S+|www\.\S+|@\w+|\S+@\S+\.\w+")
_TOKEN = re.compile(r"[a-z0-9]+")
_REPEATS = re.compile(r"([a-z])\1{2,}")
_STEMMER = StemmerFactory().create_stemmer()

#: Slang and abbreviations every installation gets; rules files add their own.
BASE_SLANG: Mapping[str, str] = {
    "gak": "tidak", "ga": "tidak", "gk": "tidak", "nggak": "tidak", "ngga": "tidak", "enggak": "tidak",
    "tdk": "tidak", "kagak": "tidak", "gaada": "tidak ada", "gada": "tidak ada",
    "blm": "belum", "udh": "sudah", "udah": "sudah", "sdh": "sudah", "dah": "sudah", "uda": "sudah",
    "bgt": "banget", "bngt": "banget", "sy": "saya", "sya": "saya", "gw": "saya", "gue": "saya",
    "aku": "saya", "yg": "yang", "dgn": "dengan", "dg": "dengan", "utk": "untuk", "untk": "untuk",
    "tlg": "tolong", "tolongin": "tolong", "mhn": "mohon", "mohonn": "mohon", "krn": "karena",
    "karna": "karena", "jd": "jadi", "jdi": "jadi", "sm": "sama", "sampe": "sampai", "ampe": "sampai",
    "dr": "dari", "dri": "dari", "kpd": "kepada", "pd": "pada", "tp": "tapi", "tpi": "tapi",
    "bs": "bisa", "bsa": "bisa", "gmn": "bagaimana", "gimana": "bagaimana", "knp": "kenapa",
    "kok": "kok", "bnyk": "banyak", "byk": "banyak", "skrg": "sekarang", "skrng": "sekarang",
    "hr": "hari", "bln": "bulan", "thn": "tahun", "mgg": "minggu", "jln": "jalan", "jl": "jalan",
    "jaln": "jalan", "jalanan": "jalan", "rmh": "rumah", "dpn": "depan", "blkg": "belakang",
    "deket": "dekat", "dkt": "dekat", "gede": "besar", "gedhe": "besar", "bgd": "banget",
    "ancur": "hancur", "rusaak": "rusak", "rsk": "rusak", "bolong": "lubang", "bolongan": "lubang",
    "lobang": "lubang", "lubangnya": "lubang", "mampet": "sumbat", "mampat": "sumbat",
    "numpuk": "tumpuk", "menumpuk": "tumpuk", "nyampah": "sampah", "ngebul": "asap",
    "kebanjiran": "banjir", "kebakaran": "bakar", "kebakar": "bakar", "nyala": "nyala",
    "mati2": "mati", "got": "selokan", "gorong": "gorong", "dishub": "dishub", "pju": "pju",
    "ktp": "ktp", "ektp": "ktp", "kk": "kk", "pkl": "pkl", "tije": "transjakarta",
    "busway": "transjakarta", "bis": "bus", "mrt": "mrt", "krl": "krl", "lrt": "lrt",
    "ppsu": "ppsu", "satpol": "satpol", "pungli": "pungli", "dbd": "dbd", "odgj": "odgj",
    "pemprov": "pemprov", "dki": "dki", "warga": "warga", "parkiran": "parkir", "markir": "parkir",
    "ngetem": "ngetem", "macet": "macet", "macettt": "macet", "bau": "bau", "bauu": "bau",
    "puskes": "puskesmas", "rs": "rumah sakit", "rsud": "rsud", "sampahnya": "sampah",
    "pohonnya": "pohon", "kabelnya": "kabel", "tiangnya": "tiang", "lampunya": "lampu",
    "trotoarnya": "trotoar", "selokannya": "selokan", "kalinya": "kali", "airnya": "air",
    "plis": "tolong", "pls": "tolong", "please": "tolong", "tq": "terima kasih", "thx": "terima kasih",
    "min": "admin", "mimin": "admin", "pak": "bapak", "bu": "ibu", "org": "orang", "orng": "orang",
    "bener": "benar", "bnr": "benar", "lg": "lagi", "lgi": "lagi", "msh": "masih", "masi": "masih",
    "ttp": "tetap", "tetep": "tetap", "brp": "berapa", "stlh": "setelah", "sblm": "sebelum",
    "tiap": "setiap", "ud": "sudah", "bkn": "bukan", "kmrn": "kemarin", "kemaren": "kemarin",
}

#: Words kept unstemmed: "kelurahan" must not become "lurah" (a complaint filed at the
#: kelurahan office is not about the lurah), "perumahan" not "rumah".
PROTECTED = frozenset({"kelurahan", "kecamatan", "perumahan", "pemukiman", "permukiman"})


def stem(token: str) -> str:
    """Return the PySastrawi stem of one lower-case token (cached)."""
    return _stem_cached(token)


@lru_cache(maxsize=200_000)
def _stem_cached(token: str) -> str:
    if token in PROTECTED or token.isdigit() or len(token) <= 3:
        return token
    return _STEMMER.stem(token) or token


def raw_tokens(text: str) -> list[str]:
    """``text`` lower-cased, without URLs, @mentions and e-mail addresses, split into words
    (before squeezing repeats, slang and stemming: see :meth:`TextNormaliser.normalise`)."""
    return _TOKEN.findall(_DROP.sub(" ", text.lower()))


class TextNormaliser:
    """Turns text into normalised tokens with a slang table on top of :data:`BASE_SLANG`.

    Args:
        extra_slang: more ``slang -> standard`` entries (a rules file's ``slang``
            section); a standard form may be several words.
    """

    def __init__(self, extra_slang: Mapping[str, str] | None = None) -> None:
        table = {**BASE_SLANG, **{k.lower(): v.lower() for k, v in (extra_slang or {}).items()}}
        self._slang = {k: tuple(v.split()) for k, v in table.items()}
        self._token_cache: dict[str, tuple[str, ...]] = {}

    def tokens(self, text: str) -> tuple[str, ...]:
        """Return the normalised, stemmed tokens of ``text``."""
        return self.normalise(raw_tokens(text))

    def normalise(self, raw_tokens: list[str]) -> tuple[str, ...]:
        """The normalised, stemmed tokens of :func:`raw_tokens`' output: the split is the same
        for every slang table, so two normalisers of one text can share it."""
        out: list[str] = []
        cache = self._token_cache
        for raw in raw_tokens:
            mapped = cache.get(raw)
            if mapped is None:
                mapped = self._normalise_token(raw)
                if len(cache) < 500_000:
                    cache[raw] = mapped
            out.extend(mapped)
        return tuple(out)

    def _normalise_token(self, raw: str) -> tuple[str, ...]:
        token = _REPEATS.sub(r"\1", raw)
        standard = self._slang.get(raw) or self._slang.get(token) or (token,)
        return tuple(stem(word) for word in standard)
