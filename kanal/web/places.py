"""The kelurahan picker's data: every kelurahan of the shipped gazetteer with its
kecamatan and kota, as the desk app offers them and writes them into a complaint."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from router.areas import area_index


@dataclass(frozen=True, slots=True)
class Place:
    """One kelurahan with its parents' names and codes."""

    kelurahan_code: str
    kelurahan: str
    kecamatan_code: str
    kecamatan: str
    kota_code: str
    kota: str

    def as_location(self) -> dict[str, str]:
        """The ``location`` fields of a walk-in complaint JSON."""
        return {"kelurahan_code": self.kelurahan_code, "kelurahan": self.kelurahan,
                "kecamatan_code": self.kecamatan_code, "kecamatan": self.kecamatan,
                "kota_code": self.kota_code, "kota": self.kota}


@lru_cache(maxsize=1)
def places() -> dict[str, Place]:
    """Every kelurahan by code, sorted by kota, kecamatan and name."""
    index = area_index()
    found = []
    for area in index.areas.values():
        if area.level != "kelurahan":
            continue
        kec = index.parent(area.code, "kecamatan")
        kota = index.parent(area.code, "kota")
        if kec is None or kota is None:
            continue
        found.append(Place(area.code, area.name, kec.code, kec.name, kota.code, kota.name))
    found.sort(key=lambda p: (p.kota, p.kecamatan, p.kelurahan))
    return {p.kelurahan_code: p for p in found}
