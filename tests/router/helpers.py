"""Builders for router tests: made-up complaints and intake publishing."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pika

from normalizer.complaint import ChannelRef, Complaint, Location, Reporter
from normalizer.identity import complaint_id
from normalizer.wire import to_wire

_seq = itertools.count(1)
WIB = timezone(timedelta(hours=7))


def make_complaint(
    text: str,
    *,
    channel_type: str = "sms",
    channel_name: str | None = None,
    message_id: str | None = None,
    reporter: Reporter | None = None,
    lat: float | None = None,
    long: float | None = None,
    hint: str | None = None,
    received_at: datetime | None = None,
) -> Complaint:
    """A valid complaint with made-up provenance."""
    mid = message_id or f"m-{next(_seq)}-{uuid.uuid4().hex[:8]}"
    name = channel_name or f"{channel_type}-test"
    now = received_at or datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    return Complaint(
        id=complaint_id(channel_type, name, mid),
        channel=ChannelRef(type=channel_type, name=name, account="+628111000000"),
        provider_message_id=mid,
        received_at=now,
        requested_datetime=now.astimezone(WIB),
        reporter=reporter or Reporter(name="Warga Contoh", phone="+6281200000001"),
        description=text,
        location=Location(lat=lat, long=long, method="gps" if lat is not None else "none"),
        service_code=hint,
        raw_ref=f"raw:sha256:{uuid.uuid4().hex}{uuid.uuid4().hex}",
    )


def publish_intake(channel: Any, exchange: str, routing_key: str, complaint: Complaint) -> None:
    """Publish ``complaint`` to the intake exchange the way the forwarder does (pika)."""
    wire = to_wire(complaint)
    props = pika.BasicProperties(
        content_type=wire.content_type, content_encoding=wire.content_encoding, delivery_mode=2,
        message_id=wire.message_id, type=wire.type, timestamp=wire.timestamp, headers=wire.headers,
    )
    channel.basic_publish(exchange, routing_key, wire.body, props)


def publish_raw(channel: Any, exchange: str, routing_key: str, body: bytes, message_id: str) -> None:
    """Publish an arbitrary body (a poison message)."""
    props = pika.BasicProperties(content_type="application/json", delivery_mode=2, message_id=message_id)
    channel.basic_publish(exchange, routing_key, body, props)


#: One realistic, made-up complaint per agency of the shipped rules.
AGENCY_SAMPLES: dict[str, str] = {
    "binamarga": "min jln di depan pasar cipete bolong2 gede bgt, udh ada yg jatoh motor. tlg diaspal ulang",
    "dishub": "Banyak mobil parkir liar di bahu jalan Jl. Kemang Raya, bikin macet tiap sore. Mohon ditertibkan",
    "sda": "Air setinggi lutut masuk rumah warga RT 04 RW 02 Kel. Kampung Melayu, banjir lagi dari subuh",
    "distamhut": "Pohon besar di Jl. Panglima Polim tumbang nutup jalan, ada mobil ketimpa",
    "dlh": "Pabrik di Kel. Rawa Terate buang limbah ke kali, airnya item dan bau menyengat, ikan pada mati",
    "satpolpp": "PKL jualan di trotoar depan stasiun Tanah Abang, pejalan kaki terpaksa turun ke jalan",
    "dinsos": "Ada pengemis bawa anak kecil tiap malam di perempatan Cawang, kasian anaknya",
    "citata": "Tetangga bangun rumah 4 lantai tanpa IMB/PBG, mepet sampai nutup saluran, Kel. Cipinang Melayu",
    "dinkes": "Puskesmas kecamatan Cakung antrinya parah, dokter cuma satu, pasien nunggu 5 jam",
    "gulkarmat": "Tolong ada ular kobra masuk rumah warga di Jagakarsa, butuh damkar segera",
    "dukcapil": "Sudah 3 bulan e-KTP saya belum jadi, katanya blangko habis terus di kelurahan",
    "bapenda": "Tagihan PBB tahun ini naik 3x lipat, NJOP tidak masuk akal, mohon penjelasan Bapenda",
    "bpbumd": "Bus Transjakarta koridor 9 telat terus, halte penuh sesak, AC bus mati",
    "kelurahan": "Sampah numpuk di ujung gang RT 07, udah seminggu ga diangkut, bau banget",
    "inspektorat": "Oknum petugas kelurahan minta uang 500rb buat ngurus surat pindah, katanya biar cepat. Ini pungli",
}
