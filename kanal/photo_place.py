"""The place a photo was taken, from its EXIF GPS, and the copy Kanal shows without it.

A phone photo often carries the GPS position and time it was taken. When a
complaint has no coordinates of its own, the first photo whose position lies in a
Jakarta kelurahan and whose time is near the message's gives the complaint's
location (method ``exif``, kept apart from the device's ``gps``). Positions outside
Jakarta, or taken more than :data:`MAX_TIME_GAP` from the message, are ignored.

The stored original keeps its metadata (it is evidence); :func:`without_metadata`
is the copy any page of Kanal shows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from PIL import Image, UnidentifiedImageError

from normalizer.complaint import Location
from normalizer.timeutil import WIB

#: A photo taken further from the message than this says nothing about its place.
MAX_TIME_GAP = timedelta(days=3)
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011


@dataclass(frozen=True, slots=True)
class PhotoPosition:
    """Where and (when known) when a photo was taken."""

    lat: float
    long: float
    taken_at: datetime | None = None


def _degrees(value: tuple, ref: str | None, negative: str) -> float:
    d, m, s = (float(v) for v in value)
    degrees = d + m / 60 + s / 3600
    return -degrees if (ref or "").upper().startswith(negative) else degrees


def read_position(data: bytes) -> PhotoPosition | None:
    """The EXIF GPS position of an image, or None (no image, no EXIF, no GPS, unreadable)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            gps = exif.get_ifd(_GPS_IFD)
            if not gps or 2 not in gps or 4 not in gps:
                return None
            lat = _degrees(gps[2], gps.get(1), "S")
            long = _degrees(gps[4], gps.get(3), "W")
            return PhotoPosition(lat, long, _taken_at(exif.get_ifd(_EXIF_IFD)))
    except (UnidentifiedImageError, OSError, ValueError, TypeError, ZeroDivisionError, SyntaxError):
        return None


def _taken_at(exif: dict) -> datetime | None:
    text = exif.get(_DATETIME_ORIGINAL)
    if not isinstance(text, str):
        return None
    try:
        when = datetime.strptime(text.strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = exif.get(_OFFSET_TIME_ORIGINAL)
    if isinstance(offset, str):
        try:
            return datetime.strptime(f"{text.strip()}{offset.strip()}", "%Y:%m:%d %H:%M:%S%z")
        except ValueError:
            pass
    return when.replace(tzinfo=WIB)  # a camera without an offset keeps local (Jakarta) time


def place(position: PhotoPosition, sent_at: datetime) -> Location | None:
    """The complaint location a photo position gives, or None (outside Jakarta, or
    taken too long before or after ``sent_at``)."""
    if position.taken_at is not None and abs(position.taken_at - sent_at) > MAX_TIME_GAP:
        return None
    from router.areas import area_index  # the shapes load once, on the first photo with GPS

    index = area_index()
    hit = index.kelurahan_at(position.lat, position.long)
    if hit is None:
        return None
    area = hit[0]
    fields: dict[str, str | None] = {"kelurahan": area.name, "kelurahan_code": area.code}
    parent = index.areas.get(area.parent_code) if area.parent_code else None
    while parent is not None:
        fields[parent.level] = parent.name
        fields[f"{parent.level}_code"] = parent.code
        parent = index.areas.get(parent.parent_code) if parent.parent_code else None
    known = {k: v for k, v in fields.items() if k in Location.model_fields}
    return Location(lat=round(position.lat, 6), long=round(position.long, 6), method="exif", **known)


def without_metadata(data: bytes) -> bytes:
    """A copy of an image with EXIF, GPS, XMP and comments removed (pixels kept).

    Raises:
        ValueError: ``data`` is not an image Pillow can read.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format or "PNG"
            clean = Image.new(image.mode, image.size)
            clean.paste(image)  # the pixels only: info, EXIF, XMP and comments stay behind
            if image.mode in ("P", "PA") and image.getpalette():
                clean.putpalette(image.getpalette())
            if "transparency" in image.info:
                clean.info["transparency"] = image.info["transparency"]
            out = io.BytesIO()
            clean.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
            return out.getvalue()
    except (UnidentifiedImageError, OSError) as exc:
        msg = f"not a readable image: {exc}"
        raise ValueError(msg) from None
