"""Checking the desk's intake form (pure): field errors in Indonesian, or the JSON
the walk-in channel takes in."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from normalizer.phone import to_e164

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
#: Photo types a desk may attach (what phones and cameras produce).
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic"}
MAX_DESCRIPTION = 10000


@dataclass(frozen=True)
class Photo:
    """One uploaded file."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Checked:
    """The form's values, its errors by field, and the complaint JSON when valid."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] | None = None


def check(form: dict[str, str], photos: list[Photo], places: dict, categories: dict[str, str],
          max_file_bytes: int, max_message_bytes: int) -> Checked:
    """Validate the intake form; ``payload`` is set only when there is no error."""
    values = {k: (form.get(k) or "").strip() for k in (
        "name", "phone", "email", "description", "category", "kelurahan", "address", "lat", "long")}
    values["anonymous"] = form.get("anonymous") == "1"
    values["confidential"] = form.get("confidential") == "1"
    errors: dict[str, str] = {}
    if not values["description"]:
        errors["description"] = "Isi aduan wajib diisi."
    elif len(values["description"]) > MAX_DESCRIPTION:
        errors["description"] = f"Isi aduan terlalu panjang (maks. {MAX_DESCRIPTION} karakter)."
    phone = None
    if values["phone"]:
        phone = to_e164(values["phone"])
        if phone is None or not phone.startswith("+"):
            errors["phone"] = "Nomor telepon tidak valid. Contoh: 0812 3456 7890."
    if values["email"] and not _EMAIL.match(values["email"]):
        errors["email"] = "Alamat e-mail tidak valid."
    if values["category"] and values["category"] not in categories:
        errors["category"] = "Kategori tidak dikenal."
    place = places.get(values["kelurahan"]) if values["kelurahan"] else None
    if values["kelurahan"] and place is None:
        errors["kelurahan"] = "Pilih kelurahan dari daftar."
    coords = _coordinates(values["lat"], values["long"], errors)
    total = 0
    for photo in photos:
        total += len(photo.data)
        if photo.content_type not in PHOTO_TYPES:
            errors["photos"] = f"{photo.filename}: bukan foto (JPEG, PNG, WebP, GIF atau HEIC)."
        elif len(photo.data) > max_file_bytes:
            errors["photos"] = f"{photo.filename}: foto terlalu besar (maks. {_mb(max_file_bytes)} per foto)."
        elif total > max_message_bytes:
            errors["photos"] = f"Total foto terlalu besar (maks. {_mb(max_message_bytes)})."
    checked = Checked(values, errors)
    if errors:
        return checked
    location: dict[str, Any] = place.as_location() if place else {}
    if coords:
        location["lat"], location["long"] = coords
    checked.payload = {
        "description": values["description"],
        "address": values["address"] or None,
        "category": values["category"] or None,
        "location": location or None,
        "reporter": {"name": values["name"] or None, "phone": phone, "email": values["email"].lower() or None,
                     "anonymous": values["anonymous"], "confidential": values["confidential"]},
        "attachments": [{"filename": p.filename, "content_type": p.content_type,
                         "data": base64.b64encode(p.data).decode()} for p in photos],
    }
    return checked


def _coordinates(lat: str, long: str, errors: dict[str, str]) -> tuple[float, float] | None:
    if not lat and not long:
        return None
    try:
        la, lo = float(lat.replace(",", ".")), float(long.replace(",", "."))
    except ValueError:
        errors["coordinates"] = "Koordinat harus berupa angka, mis. -6.1754 dan 106.8272."
        return None
    if not (-7.0 <= la <= -5.0 and 106.0 <= lo <= 107.5):
        errors["coordinates"] = "Koordinat berada di luar wilayah DKI Jakarta."
        return None
    return la, lo


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"
