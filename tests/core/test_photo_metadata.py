"""The copy of a photo a page of Kanal may show has its metadata removed; the stored
original keeps it (it is evidence). Made-up images."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from kanal.photo_place import read_position, without_metadata
from tests.core.fake_media import jpeg

GAMBIR = (-6.1754, 106.8272)


def test_a_jpeg_with_exif_gps_comes_out_with_no_metadata_and_the_same_picture() -> None:
    original = jpeg(GAMBIR, "2026:11:27 08:05:00", color="red")
    assert read_position(original) is not None, "the original carries GPS"

    clean = without_metadata(original)

    assert read_position(clean) is None
    with Image.open(io.BytesIO(clean)) as image, Image.open(io.BytesIO(original)) as before:
        assert image.format == "JPEG"
        assert (image.size, image.mode) == (before.size, before.mode)
        assert not image.getexif(), "no EXIF at all: no GPS, no time, no camera"
        assert not {"exif", "xmp", "comment", "icc_profile"} & set(image.info)
        red, green, blue = image.getpixel((12, 8))
        assert red > 200 and green < 60 and blue < 60, "the picture is kept"
    assert b"Exif" not in clean and b"GPS" not in clean


def test_what_is_no_image_is_refused() -> None:
    with pytest.raises(ValueError, match="not a readable image"):
        without_metadata(b"<!DOCTYPE html><html><body>Error</body></html>")
