"""The shipped Jakarta area data: kota, kecamatan and kelurahan with codes, centroids,
postal codes and simplified kelurahan boundaries (see router/data/ATTRIBUTION.md).

Loaded once per process and shared; every lookup after that is in memory.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shapely import STRtree, points
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

DATA_DIR = Path(__file__).with_name("data")
#: Beyond this distance (degrees, about 550 m) from every polygon a point is not in Jakarta.
NEAREST_MAX_DEGREES = 0.005


@dataclass(frozen=True, slots=True)
class Area:
    """One row of the area table."""

    code: str
    level: str
    name: str
    parent_code: str | None
    lat: float
    lng: float
    postal_code: str | None


class AreaIndex:
    """Areas by code, postal code and polygon."""

    def __init__(self, areas: dict[str, Area], polygons: dict[str, BaseGeometry]) -> None:
        self.areas = areas
        self.by_postal: dict[str, list[str]] = defaultdict(list)
        for area in areas.values():
            if area.postal_code:
                self.by_postal[area.postal_code].append(area.code)
        self._codes = list(polygons)
        self._geoms = [polygons[c] for c in self._codes]
        self._tree = STRtree(self._geoms)

    def parent(self, code: str, level: str) -> Area | None:
        """The ancestor of ``code`` at ``level`` (the area itself if it is at that level)."""
        area = self.areas.get(code)
        while area is not None and area.level != level:
            area = self.areas.get(area.parent_code) if area.parent_code else None
        return area

    def kelurahan_at(self, lat: float, lng: float) -> tuple[Area, str] | None:
        """The kelurahan containing a WGS84 point, and how sure that is.

        Returns ``(area, how)`` with how ``inside``, ``overlap`` (in two simplified
        polygons; the one the point is deeper in wins) or ``nearest`` (in a gap
        between polygons, within about 550 m); None when the point is not in Jakarta.
        """
        point = points(lng, lat)
        hits = list(self._tree.query(point, predicate="intersects"))
        if len(hits) == 1:
            return self.areas[self._codes[hits[0]]], "inside"
        if hits:
            deepest = max(hits, key=lambda i: self._geoms[i].boundary.distance(point))
            return self.areas[self._codes[deepest]], "overlap"
        nearest = self._tree.query_nearest(point, max_distance=NEAREST_MAX_DEGREES)
        if len(nearest):
            return self.areas[self._codes[int(nearest[0])]], "nearest"
        return None


@lru_cache(maxsize=1)
def area_index() -> AreaIndex:
    """Load the shipped area data once per process."""
    areas = {}
    with (DATA_DIR / "jakarta_wilayah.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            areas[row["code"]] = Area(
                row["code"], row["level"], row["name"], row["parent_code"] or None,
                float(row["lat"]), float(row["lng"]), row["postal_code"] or None,
            )
    with (DATA_DIR / "jakarta_kelurahan_boundaries.geojson").open(encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    polygons = {f["properties"]["code"]: shape(f["geometry"]) for f in features}
    return AreaIndex(areas, polygons)
