"""Where is the problem? Coordinates first, then the channel's own place, then the text,
then (a walk-in complaint) the area of the desk that took it.

* ``gps``: a point-in-polygon lookup on the shipped kelurahan boundaries (``exif``
  when the coordinates came from a photo's EXIF GPS).
* ``place``: the channel already named a kelurahan code (kept as given).
* ``text``: kelurahan, kecamatan and kota names with their abbreviations, checked
  against each other; a postal code when the names say nothing.
* ``desk``: the kelurahan or kecamatan the walk-in desk serves (:meth:`LocationResolver.desk_area`).

Ambiguous names are resolved by context ("Jatinegara, Cakung" is the kelurahan in
Cakung) or left at the level that is certain: a bare "Jatinegara" is only certain to be
in Jakarta Timur. A kelurahan named like its kecamatan ("Gambir") is the kelurahan after
"Kel." or when nothing else in the text points to the kecamatan, and the kecamatan after
"Kec." or when something does (see :meth:`LocationResolver._clash`). Street mentions
and RT/RW are kept as text (``address``); they are not validated against any list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from normalizer.complaint import Complaint
from router.areas import Area, AreaIndex, area_index
from router.gazetteer import Gazetteer, Mention

_LEVELS = ("kelurahan", "kecamatan", "kota")
#: Flag of a walk-in complaint carrying the area its desk serves, ``desk_area:<code>``
#: (written by connectors/walkin, which this layer does not import).
DESK_AREA_FLAG = "desk_area:"
_POSTAL = re.compile(r"(?<![\d.,])(1[0-4]\d{3})(?![\d.,])")
_MONEY_BEFORE = re.compile(r"(rp\.?|idr)\s*$", re.IGNORECASE)
_RT_RW = re.compile(r"\b(rt\.?\s*0*\d{1,3}(?:\s*/\s*(?:rw\.?\s*)?0*\d{1,3}|\s*,?\s*rw\.?\s*0*\d{1,3})?)", re.IGNORECASE)
_RW = re.compile(r"\brw\.?\s*0*\d{1,3}\b", re.IGNORECASE)
_STREET = re.compile(r"\b(?i:jl|jln|jalan)\.?\s+([A-Z0-9][\w.'-]*(?:\s+(?!RT\b|RW\b|No\b)[A-Z0-9][\w.'-]*){0,4})")


@dataclass(frozen=True, slots=True)
class ResolvedLocation:
    """The location decision: names and codes down to the certain level, and how."""

    method: str = "none"
    level: str = "none"
    kelurahan: str | None = None
    kelurahan_code: str | None = None
    kecamatan: str | None = None
    kecamatan_code: str | None = None
    kota: str | None = None
    kota_code: str | None = None
    postal_code: str | None = None
    address: str | None = None
    note: str | None = None
    candidates: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for the routed message."""
        return {"method": self.method, "level": self.level, "kelurahan": self.kelurahan,
                "kelurahan_code": self.kelurahan_code, "kecamatan": self.kecamatan,
                "kecamatan_code": self.kecamatan_code, "kota": self.kota, "kota_code": self.kota_code,
                "postal_code": self.postal_code, "address": self.address, "note": self.note,
                "candidates": list(self.candidates)}


class LocationResolver:
    """Resolves a complaint's location (see the module docstring)."""

    def __init__(self, index: AreaIndex | None = None) -> None:
        self.index = index or area_index()
        self.gazetteer = Gazetteer(self.index)
        self._chains: dict[str, tuple[Area | None, Area | None, Area | None, str]] = {}

    def resolve(self, complaint: Complaint) -> ResolvedLocation:
        """Resolve the location of ``complaint``."""
        loc = complaint.location
        text = "\n".join(t for t in (complaint.title, complaint.description, loc.address_string) if t)
        address = loc.address_string or street_address(text)
        if loc.lat is not None and loc.long is not None:
            hit = self.index.kelurahan_at(loc.lat, loc.long)
            if hit is not None:
                return self._at(hit[0].code, "exif" if loc.method == "exif" else "gps", address, note=hit[1])
        if loc.kelurahan_code and loc.kelurahan_code in self.index.areas:
            return self._at(loc.kelurahan_code, "place", address)
        named = self._from_channel_names(loc.kelurahan, loc.kecamatan, loc.kota)
        if named is not None:
            return replace(named, method="place", address=address)
        return self.from_text(text, address)

    def desk_area(self, complaint: Complaint, found: ResolvedLocation) -> ResolvedLocation:
        """The area the walk-in desk serves (its kelurahan or kecamatan), when neither the
        channel's location fields nor the text (names, postal code, landmarks) placed
        ``complaint``; else ``found`` unchanged."""
        if found.level != "none" or not complaint.flags:
            return found
        code = next((f.removeprefix(DESK_AREA_FLAG) for f in complaint.flags if f.startswith(DESK_AREA_FLAG)), None)
        area = self.index.areas.get(code or "")
        if area is None or area.level not in ("kelurahan", "kecamatan"):
            return found
        return self._at(area.code, "desk", found.address, note=f"area of the desk {complaint.channel.account}")

    def _from_channel_names(self, *names: str | None) -> ResolvedLocation | None:
        """A place the channel named without codes ("KELURAHAN KALI BARU", "Cilincing")."""
        if not any(names):
            return None
        levels = ("Kelurahan", "Kecamatan", "")
        text = ", ".join(f"{lvl} {n}".strip() for lvl, n in zip(levels, names) if n)
        found = self.from_text(text)
        return found if found.level != "none" else None

    def from_text(self, text: str, address: str | None = None) -> ResolvedLocation:
        """Resolve a location from free text alone."""
        mentions = self.gazetteer.mentions(text)
        plain = [m for m in mentions if not m.in_street_name]
        # A landmark's name (Jl. Setia Budi, Kali Grogol) counts only when nothing else does.
        choice = self._choose(plain) or (self._choose(mentions) if len(plain) < len(mentions) else None)
        if choice is not None:
            code, note, candidates = choice
            return self._at(code, "text", address, note=note, candidates=candidates)
        postal = self._postal(text)
        if postal is not None:
            return self._at(postal[0], "text", address, note=f"postal code {postal[1]}", postal=postal[1])
        return ResolvedLocation(address=address)

    def _choose(self, mentions: list[Mention]) -> tuple[str, str, tuple[str, ...]] | None:
        if not mentions:
            return None
        readings = [self._readings(m, mentions) for m in mentions]
        clashes = [self._clash(m, r, mentions) if len(r) == 2 else None
                   for m, r in zip(mentions, readings, strict=True)]
        nested_pick = any(c is not None and c[1] for c in clashes)
        readings = [c[0] if c is not None else r for c, r in zip(clashes, readings, strict=True)]
        readings = [r for r in readings if r]
        if not readings:
            return None
        context = {code for r in readings if len(r) == 1 for code in r}
        resolved: list[str] = []
        ambiguous: list[tuple[str, ...]] = []
        for options in readings:
            narrowed = self._by_context(options, context) if len(options) > 1 else options
            if len(narrowed) == 1:
                resolved.append(narrowed[0])
            else:
                ambiguous.append(narrowed)
        for options in ambiguous:
            resolved.append(self._common_ancestor(options))
        names = tuple(sorted({self.index.areas[c].name for opts in ambiguous for c in opts}))
        note = "ambiguous" if ambiguous else ("kelurahan named like its kecamatan" if nested_pick else "names")
        return self._most_specific(resolved), note, names

    def _clash(self, mention: Mention, options: tuple[str, ...],
               mentions: list[Mention]) -> tuple[tuple[str, ...], bool] | None:
        """A name that is both a kecamatan and a kelurahan, with no ``Kel.``/``Kec.`` before it.

        It is the kecamatan when something else in the text points to that kecamatan (the
        kecamatan named with ``Kec.``, or another place inside it that is not this
        kelurahan); else the kelurahan when it lies in that kecamatan (Gambir, Koja...);
        else (Jatinegara: a kecamatan, and a kelurahan in Cakung) the other names decide.
        Returns the readings left and whether the kelurahan was taken for its kecamatan's
        name, or None when ``mention`` is no such clash.
        """
        if mention.marker is not None:
            return None
        levels = {self.index.areas[c].level: c for c in options}
        kec, kel = levels.get("kecamatan"), levels.get("kelurahan")
        if kec is None or kel is None:
            return None
        if self._points_to(kec, kel, mention, mentions):
            return (kec,), False
        if self.index.areas[kel].parent_code == kec:
            return (kel,), True
        return None

    def _points_to(self, kec: str, kel: str, this: Mention, mentions: list[Mention]) -> bool:
        for other in mentions:
            if other is this:
                continue
            codes = other.codes
            if other.marker in _LEVELS:
                codes = tuple(c for c in codes if self.index.areas[c].level == other.marker) or codes
            if kel in codes:
                continue
            if all(c == kec and other.marker == "kecamatan" or kec in self._ancestors(c) for c in codes):
                return True
        return False

    def _readings(self, mention: Mention, mentions: list[Mention]) -> tuple[str, ...]:
        codes = mention.codes
        if mention.marker in _LEVELS:
            marked = tuple(c for c in codes if self.index.areas[c].level == mention.marker)
            codes = marked or codes
        elif self.gazetteer.is_generic(mention) and not self._has_context(codes, mentions, mention):
            return ()
        return codes

    def _has_context(self, codes: tuple[str, ...], mentions: list[Mention], this: Mention) -> bool:
        others = {c for m in mentions if m is not this for c in m.codes}
        return any(self._ancestors(c) & others for c in codes)

    def _ancestors(self, code: str) -> set[str]:
        out = set()
        area = self.index.areas.get(code)
        while area is not None and area.parent_code:
            out.add(area.parent_code)
            area = self.index.areas.get(area.parent_code)
        return out

    def _by_context(self, options: tuple[str, ...], context: set[str]) -> tuple[str, ...]:
        """Keep the readings that agree with places named elsewhere in the text."""
        fitting = tuple(
            c for c in options if self._ancestors(c) & context or any(c in self._ancestors(x) for x in context)
        )
        if fitting:
            return fitting
        # "Gambir" names kecamatan Gambir and its kelurahan Gambir: the kelurahan is the
        # reading people mean most often (and the kecamatan is right either way). Names of
        # two unrelated areas (Jatinegara) stay ambiguous.
        nested = tuple(c for c in options if any(o in self._ancestors(c) for o in options))
        return nested if len(nested) == 1 and len(options) == 2 else options

    def _common_ancestor(self, options: tuple[str, ...]) -> str:
        chains = [[o, *sorted(self._ancestors(o), key=len, reverse=True)] for o in options]
        shared = set(chains[0]).intersection(*chains[1:])
        return max(shared, key=len) if shared else "31"

    def _most_specific(self, codes: list[str]) -> str:
        deepest = max(codes, key=len)
        same_branch = [
            c for c in codes if c == deepest or c in self._ancestors(deepest) or deepest in self._ancestors(c)
        ]
        if len(same_branch) == len(codes):
            return deepest
        top = [c for c in codes if len(c) == len(deepest)]
        return top[0] if len(set(top)) == 1 else self._common_ancestor(tuple(set(codes)))

    def _postal(self, text: str) -> tuple[str, str] | None:
        for match in _POSTAL.finditer(text):
            if _MONEY_BEFORE.search(text[: match.start()]):
                continue
            codes = self.index.by_postal.get(match.group(1))
            if codes:
                return (codes[0] if len(codes) == 1 else self._common_ancestor(tuple(codes))), match.group(1)
        return None

    def _at(
        self, code: str, method: str, address: str | None, note: str | None = None,
        candidates: tuple[str, ...] = (), postal: str | None = None,
    ) -> ResolvedLocation:
        if code == "31":
            return ResolvedLocation(address=address, note=note, candidates=candidates)
        kel, kec, kota, level = self._chain(code)
        return ResolvedLocation(
            method=method, level=level,
            kelurahan=_name(kel), kelurahan_code=_code(kel),
            kecamatan=_name(kec), kecamatan_code=_code(kec),
            kota=_name(kota), kota_code=_code(kota),
            postal_code=postal or (kel.postal_code if kel else None),
            address=address, note=note, candidates=candidates,
        )


    def _chain(self, code: str) -> tuple[Area | None, Area | None, Area | None, str]:
        """The kelurahan, kecamatan and kota of ``code`` and its level (once per code: areas are fixed)."""
        chain = self._chains.get(code)
        if chain is None:
            kel, kec, kota = (self.index.parent(code, lvl) for lvl in _LEVELS)
            level = next(lvl for lvl, a in zip(_LEVELS, (kel, kec, kota)) if a is not None)
            chain = (kel, kec, kota, level)
            if code in self.index.areas:
                self._chains[code] = chain
        return chain


def street_address(text: str) -> str | None:
    """The first street mention with its RT/RW, kept as the citizen wrote it."""
    lower = text.lower()
    # Each pattern needs these letters (no other character folds to them): a substring test skips
    # most texts for a fraction of a case-insensitive scan.
    street = _STREET.search(text) if "jl" in lower or "jalan" in lower else None
    rt = _RT_RW.search(text) or _RW.search(text) if "rt" in lower or "rw" in lower else None
    parts = [f"Jl. {street.group(1).strip()}" if street else None, rt.group(0).strip().upper() if rt else None]
    joined = ", ".join(p for p in parts if p)
    return joined or None


def _name(area: Area | None) -> str | None:
    return area.name if area else None


def _code(area: Area | None) -> str | None:
    return area.code if area else None
