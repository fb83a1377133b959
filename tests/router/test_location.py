"""Location: coordinates by point-in-polygon, and text with abbreviations and ambiguity."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import shape

from normalizer.complaint import Location
from router.areas import DATA_DIR
from router.location import LocationResolver, street_address
from tests.router.helpers import make_complaint


@pytest.fixture(scope="module")
def resolver() -> LocationResolver:
    return LocationResolver()


def _inside_point(code: str) -> tuple[float, float]:
    features = json.loads((DATA_DIR / "jakarta_kelurahan_boundaries.geojson").read_text())["features"]
    geom = next(shape(f["geometry"]) for f in features if f["properties"]["code"] == code)
    p = geom.representative_point()
    return p.y, p.x


class TestCoordinates:
    @pytest.mark.parametrize("code", ["31.71.01.1001", "31.74.07.1010", "31.75.06.1001", "31.72.01.1002"])
    def test_point_inside_a_kelurahan(self, resolver, code):
        lat, lng = _inside_point(code)
        loc = resolver.resolve(make_complaint("jalan rusak", lat=lat, long=lng))
        assert (loc.method, loc.level, loc.kelurahan_code) == ("gps", "kelurahan", code)
        assert loc.kecamatan_code == code[:8] and loc.kota_code == code[:5]

    def test_coordinates_win_over_the_text(self, resolver):
        lat, lng = _inside_point("31.71.01.1001")
        loc = resolver.resolve(make_complaint("banjir di Kel. Cipete Utara", lat=lat, long=lng))
        assert loc.kelurahan == "Gambir"

    def test_point_outside_jakarta_falls_back_to_the_text(self, resolver):
        loc = resolver.resolve(make_complaint("banjir di Kel. Cipete Utara", lat=-6.9175, long=107.6191))
        assert (loc.method, loc.kelurahan) == ("text", "Cipete Utara")

    def test_channel_place_names_without_codes(self, resolver):
        c = make_complaint("ada masalah").model_copy(
            update={"location": Location(kelurahan="KELURAHAN KALI BARU", kecamatan="CILINCING")}
        )
        loc = resolver.resolve(c)
        assert (loc.method, loc.kelurahan_code) == ("place", "31.72.04.1004")

    def test_channel_place_is_kept(self, resolver):
        c = make_complaint("ada masalah").model_copy(
            update={"location": Location(kelurahan_code="31.74.02.1001", method="place")}
        )
        assert resolver.resolve(c).kelurahan == "Setia Budi"


class TestText:
    @pytest.mark.parametrize(("text", "kelurahan", "kecamatan"), [
        ("pohon tumbang di Kel. Cipete Utara, Kby Baru", "Cipete Utara", "Kebayoran Baru"),
        ("lampu mati di kp melayu", "Kampung Melayu", "Jatinegara"),
        ("got mampet di Menteng Dalam, Tebet, Jaksel", "Menteng Dalam", "Tebet"),
        ("macet di kelapa gading timur", "Kelapa Gading Timur", "Kelapa Gading"),
        ("BANJIR DI KALI BARU CILINCING", "Kalibaru", "Cilincing"),
        ("parkir liar di tj. priok", "Tanjung Priok", "Tanjung Priok"),
        ("jalan rusak di Rawamangun, Pulogadung", "Rawamangun", "Pulogadung"),
        ("kelurahan tengah, kramat jati", "Tengah", "Kramatjati"),
    ])
    def test_kelurahan_from_names_and_abbreviations(self, resolver, text, kelurahan, kecamatan):
        loc = resolver.from_text(text)
        assert (loc.method, loc.level, loc.kelurahan, loc.kecamatan) == ("text", "kelurahan", kelurahan, kecamatan)

    @pytest.mark.parametrize(("text", "kelurahan"), [("parkir liar di Blok M", "Melawai"),
                                                    ("banjir di kalibata city", "Rawajati")])
    def test_landmarks_used_as_place_names(self, resolver, text, kelurahan):
        assert resolver.from_text(text).kelurahan == kelurahan

    def test_kota_from_informal_name(self, resolver):
        loc = resolver.from_text("sampah numpuk di jaksel")
        assert (loc.level, loc.kota_code) == ("kota", "31.74")

    def test_kecamatan_abbreviation(self, resolver):
        loc = resolver.from_text("pohon tumbang di kby lama")
        assert (loc.level, loc.kecamatan) == ("kecamatan", "Kebayoran Lama")

    def test_jatinegara_alone_is_left_at_the_certain_level(self, resolver):
        loc = resolver.from_text("banjir di jatinegara")
        assert (loc.level, loc.kota_code, loc.kelurahan, loc.kecamatan) == ("kota", "31.75", None, None)
        assert loc.note == "ambiguous" and "Jatinegara" in loc.candidates

    def test_jatinegara_resolved_by_context(self, resolver):
        kel = resolver.from_text("banjir di Jatinegara, Cakung")
        assert (kel.kelurahan_code, kel.kecamatan) == ("31.75.06.1001", "Cakung")
        marked = resolver.from_text("banjir di Kec. Jatinegara")
        assert (marked.level, marked.kecamatan_code) == ("kecamatan", "31.75.03")

    def test_generic_word_needs_context(self, resolver):
        assert resolver.from_text("jalan baru diaspal tapi sudah rusak").level == "none"
        assert resolver.from_text("sampah di kel. baru, pasar rebo").kelurahan == "Baru"

    def test_postal_code_when_no_name(self, resolver):
        loc = resolver.from_text("alamat: gang mawar, kode pos 10110")
        assert (loc.kelurahan, loc.postal_code, loc.note) == ("Gambir", "10110", "postal code 10110")
        assert resolver.from_text("diminta bayar Rp 10110 tiap bulan").level == "none"

    def test_street_and_rt_rw_are_kept_as_text(self, resolver):
        c = make_complaint("Jalan rusak di Jl. Kemang Raya RT 05/RW 03, Kel. Bangka")
        loc = resolver.resolve(c)
        assert loc.address == "Jl. Kemang Raya, RT 05/RW 03"
        assert loc.kelurahan == "Bangka"
        assert street_address("got mampet rt 7 rw 2") == "RT 7 RW 2"

    def test_nothing_found(self, resolver):
        loc = resolver.from_text("tolong segera ditangani")
        assert (loc.method, loc.level, loc.kelurahan_code) == ("none", "none", None)


class TestKecamatanKelurahanClash:
    """A name that is both a kecamatan and a kelurahan (Gambir, Menteng, Koja, Kebon Jeruk,
    Pasar Minggu... and Jatinegara, whose kelurahan lies in Cakung)."""

    @pytest.mark.parametrize(("text", "kelurahan", "kecamatan"), [
        ("lampu jalan mati di kel. gambir", "Gambir", "Gambir"),
        ("sampah numpuk kel menteng", "Menteng", "Menteng"),
        ("Kelurahan: Koja, banjir sepinggang", "Koja", "Koja"),
        ("kel menteng kec menteng got mampet", "Menteng", "Menteng"),
    ])
    def test_kel_before_the_name_gives_the_kelurahan(self, resolver, text, kelurahan, kecamatan):
        loc = resolver.from_text(text)
        assert (loc.level, loc.kelurahan, loc.kecamatan) == ("kelurahan", kelurahan, kecamatan)

    @pytest.mark.parametrize(("text", "kecamatan"), [
        ("pohon tumbang di kec. gambir", "Gambir"),
        ("Kecamatan: Menteng. Trotoar rusak", "Menteng"),
        ("kec pasar minggu banyak pkl", "Pasar Minggu"),
        ("kec. Tanah Abang macet parah", "Tanah Abang"),
        ("parkir liar kel tanah abang", "Tanah Abang"),  # only a kecamatan: "kel" cannot make it a kelurahan
    ])
    def test_kec_before_the_name_leaves_the_kelurahan_unknown(self, resolver, text, kecamatan):
        loc = resolver.from_text(text)
        assert (loc.level, loc.kelurahan, loc.kecamatan) == ("kecamatan", None, kecamatan)

    @pytest.mark.parametrize(("text", "kecamatan"), [
        ("banjir di gambir, kecamatan gambir", "Gambir"),
        ("jalan rusak di kebon jeruk kec. kebon jeruk", "Kebon Jeruk"),
    ])
    def test_a_plain_name_is_the_kecamatan_when_the_text_points_there(self, resolver, text, kecamatan):
        loc = resolver.from_text(text)
        assert (loc.level, loc.kelurahan, loc.kecamatan) == ("kecamatan", None, kecamatan)

    @pytest.mark.parametrize(("text", "kelurahan", "kecamatan"), [
        ("banjir di menteng deket kel. pegangsaan", "Pegangsaan", "Menteng"),
        ("tanah abang, kel. kebon kacang, pkl di trotoar", "Kebon Kacang", "Tanah Abang"),
        ("sukabumi utara, kebon jeruk: lampu pju mati", "Sukabumi Utara", "Kebon Jeruk"),
        ("jalan rusak di jatinegara, cakung", "Jatinegara", "Cakung"),
    ])
    def test_another_kelurahan_named_is_the_kelurahan(self, resolver, text, kelurahan, kecamatan):
        loc = resolver.from_text(text)
        assert (loc.level, loc.kelurahan, loc.kecamatan) == ("kelurahan", kelurahan, kecamatan)

    @pytest.mark.parametrize(("text", "kelurahan"), [
        ("sampah di gambir", "Gambir"),
        ("gambir jakpus parkir liar", "Gambir"),  # the kota holds both readings: nothing points to the kecamatan
        ("koja jakut banjir lagi", "Koja"),
        ("Jl. Abdul Muis, Gambir, Gambir, Jakarta Pusat", "Gambir"),  # kelurahan, kecamatan, kota
        # A landmark's name (Jl. Kwitang, Waduk Pluit: kelurahan of Senen and Penjaringan) counts
        # only when nothing else does, so it does not point to the kecamatan either.
        ("Jl. Kwitang, Senen, Jakarta Pusat: got mampet", "Senen"),
        ("pompa air di waduk pluit rusak, rob masuk ke pemukiman warga penjaringan", "Penjaringan"),
    ])
    def test_plain_name_with_nothing_pointing_to_the_kecamatan_is_the_kelurahan(self, resolver, text, kelurahan):
        loc = resolver.from_text(text)
        assert (loc.level, loc.kelurahan, loc.kecamatan) == ("kelurahan", kelurahan, kelurahan)
        assert loc.note == "kelurahan named like its kecamatan"

    def test_unrelated_namesakes_stay_ambiguous_unless_named(self, resolver):
        assert resolver.from_text("banjir di jatinegara").level == "kota"
        loc = resolver.from_text("jalan rusak di jatinegara, kec jatinegara")
        assert (loc.level, loc.kecamatan_code, loc.note) == ("kecamatan", "31.75.03", "names")


def test_as_dict_holds_every_field_in_declaration_order():
    """as_dict is written out by hand (speed): a field added later must not be left out."""
    from dataclasses import fields

    from router.location import ResolvedLocation

    loc = ResolvedLocation(method="text", level="kecamatan", kecamatan="Menteng", kecamatan_code="31.71.06",
                           kota="Kota Administrasi Jakarta Pusat", kota_code="31.71", note="names",
                           candidates=("Menteng",))
    expected = {f.name: getattr(loc, f.name) for f in fields(loc)} | {"candidates": ["Menteng"]}
    assert list(loc.as_dict().items()) == list(expected.items())
