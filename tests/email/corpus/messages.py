"""The corpus: made-up mail to dki@jakarta.go.id as Gmail, Outlook, iPhone, Android,
Yahoo and mail servers write it, each with what Kanal must make of it.

Every name, address and phone number here is invented (example.org/example.com,
+62812000xxxx). Caps for this corpus: see :data:`MAX_FILE_BYTES` and
:data:`MAX_MESSAGE_BYTES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.email.corpus.build import encode_body, fake_jpeg, message, multipart, part

MAX_FILE_BYTES = 1_000_000
MAX_MESSAGE_BYTES = 1_500_000
TO = ("To", "Pengaduan DKI <dki@jakarta.go.id>")


@dataclass(frozen=True)
class Expect:
    """What one corpus message must become.

    ``kind`` is complaint, drop or quarantine. For complaints the other fields
    are checked when set; ``in_reply_to``/``conversation`` name other corpus mail.
    """

    kind: str = "complaint"
    reason: str | None = None
    title: str | None = None
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    kept: int = 0
    omitted: tuple[str, ...] = ()
    filenames: tuple[str, ...] = ()
    context: str | None = None
    flags: tuple[str, ...] = ()
    reporter: str | None = None
    in_reply_to: str | None = None
    conversation: str | None = None
    truncated: bool = False
    hashed_id: bool = False


@dataclass(frozen=True)
class CorpusMail:
    """One corpus message: a name, its raw bytes and the expectation."""

    name: str
    raw: bytes
    expect: Expect = field(default_factory=Expect)

    @property
    def message_id(self) -> str | None:
        """The Message-ID without brackets, if the message has one."""
        for line in self.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                return line.split(b":", 1)[1].strip().strip(b"<>").decode() or None  # "<" names none
        return None


def _std(
    n: int, sender: str, subject: str | None, date: str = "Mon, 23 Nov 2026 08:{:02d}:00 +0700"
) -> list[tuple[str, str]]:
    items = [("From", sender), TO]
    if subject is not None:
        items.append(("Subject", subject))
    items += [
        ("Date", date.format(n % 60)),
        ("Message-ID", f"<corpus-{n:02d}@mail.example.org>"),
        ("MIME-Version", "1.0"),
    ]
    return items


GMAIL_HTML_STYLE = b'<div dir="ltr">{}</div>'


def _gmail_alt(n: int, sender: str, subject: str, text: str, html: str | None = None) -> bytes:
    boundary = f"000000000000gm{n:04d}abcdef"
    html = html or '<div dir="ltr">' + text.replace("\n", "<br>") + "</div>"
    body = multipart(
        boundary,
        [
            part('text/plain; charset="UTF-8"', text.encode()),
            part('text/html; charset="UTF-8"', html.encode(), encoding="quoted-printable"),
        ],
    )
    return message(
        [
            *_std(n, sender, subject),
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ],
        body,
    )


def _simple(
    n: int,
    sender: str,
    subject: str | None,
    body: bytes,
    ctype: str = 'text/plain; charset="UTF-8"',
    cte: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
    date: str | None = None,
) -> bytes:
    items = [
        *(_std(n, sender, subject, date) if date else _std(n, sender, subject)),
        *extra,
        ("Content-Type", ctype),
    ]
    if cte:
        items.append(("Content-Transfer-Encoding", cte))
    return message(items, encode_body(body, cte))


def _with_files(n: int, sender: str, subject: str, text: str, files: list[bytes]) -> bytes:
    boundary = f"----=_Part_{n}_1122334455.1700000000000"
    body = multipart(boundary, [part('text/plain; charset="UTF-8"', text.encode()), *files])
    return message(
        [*_std(n, sender, subject), ("Content-Type", f'multipart/mixed; boundary="{boundary}"')],
        body,
    )


def _jpeg(seed: int, name: str, size: int = 2048, disposition: str = "attachment") -> bytes:
    return part(
        f'image/jpeg; name="{name}"',
        fake_jpeg(seed, size),
        [("Content-Disposition", f'{disposition}; filename="{name}"')],
        encoding="base64",
    )


def _gmail() -> list[CorpusMail]:
    first = CorpusMail(
        "gmail_alternative",
        _gmail_alt(
            1,
            "Siti Rahmawati <siti.rahmawati@example.org>",
            "Got mampet di Jl. Kemuning, Kelurahan Utan Kayu",
            "Selamat pagi,\n\nGot di depan rumah no. 12 Jl. Kemuning RT 03/RW 05 sudah mampet dua minggu.\n"
            "Kalau hujan air masuk ke rumah warga. Mohon bantuan PPSU.\n\nTerima kasih,\nSiti\n",
        ),
        Expect(
            title="Got mampet di Jl. Kemuning, Kelurahan Utan Kayu",
            contains=("mampet dua minggu", "PPSU"),
            reporter="siti.rahmawati@example.org",
            conversation="gmail_alternative",
        ),
    )
    reply_text = (
        "Sampai hari ini got masih mampet, belum ada petugas yang datang.\n\n"
        "Pada Sen, 23 Nov 2026 pukul 08.01 Siti Rahmawati <\nsiti.rahmawati@example.org> menulis:\n\n"
        "> Selamat pagi,\n>\n> Got di depan rumah no. 12 Jl. Kemuning sudah mampet dua minggu.\n"
    )
    reply = _simple(
        2,
        "Siti Rahmawati <siti.rahmawati@example.org>",
        "Re: Got mampet di Jl. Kemuning, Kelurahan Utan Kayu",
        reply_text.encode(),
        extra=(
            ("In-Reply-To", "<corpus-01@mail.example.org>"),
            ("References", "<corpus-01@mail.example.org>"),
        ),
    )
    second = CorpusMail(
        "gmail_reply_quoted",
        reply,
        Expect(
            contains=("belum ada petugas",),
            absent=("menulis", "dua minggu"),
            in_reply_to="gmail_alternative",
            conversation="gmail_alternative",
        ),
    )
    third = CorpusMail(
        "reply_thread_third",
        _simple(
            3,
            "Siti Rahmawati <siti.rahmawati@example.org>",
            "Re: Got mampet di Jl. Kemuning, Kelurahan Utan Kayu",
            b"Sudah dibersihkan tadi pagi, terima kasih.\n\nOn Tue, Nov 24, 2026 at 9:00 AM Pengaduan DKI\n"
            b"<dki@jakarta.go.id> wrote:\n> Laporan Anda sedang diproses.\n",
            extra=(
                ("In-Reply-To", "<ack-77@jakarta.go.id>"),
                (
                    "References",
                    "<corpus-01@mail.example.org> <corpus-02@mail.example.org> <ack-77@jakarta.go.id>",
                ),
            ),
        ),
        Expect(
            contains=("Sudah dibersihkan",),
            absent=("wrote", "diproses"),
            conversation="gmail_alternative",
        ),
    )
    photo = CorpusMail(
        "gmail_photo",
        _with_files(
            4,
            "Budi Hartono <budi.h@example.com>",
            "Pohon tumbang Jl. Cempaka Putih Raya",
            "Pohon tumbang menutup separuh jalan, foto terlampir.",
            [_jpeg(4, "IMG_20261123_071502.jpg", 40_000)],
        ),
        Expect(kept=1, filenames=("IMG_20261123_071502.jpg",), contains=("foto terlampir",)),
    )
    boundary = "000000000000rel0005"
    alt = "000000000000alt0005"
    related = multipart(
        boundary,
        [
            part(
                f'multipart/alternative; boundary="{alt}"',
                multipart(
                    alt,
                    [
                        part(
                            'text/plain; charset="UTF-8"',
                            b"Lampu PJU mati sepanjang Jl. Pramuka.\n[image: lampu.jpg]\n",
                        ),
                        part(
                            'text/html; charset="UTF-8"',
                            b'<div>Lampu PJU mati sepanjang Jl. Pramuka.<br>'
                            b'<img src="cid:ii_lampu01" alt="lampu.jpg"></div>',
                        ),
                    ],
                ),
            ),
            part(
                'image/jpeg; name="lampu.jpg"',
                fake_jpeg(5, 9000),
                [
                    ("Content-Disposition", 'inline; filename="lampu.jpg"'),
                    ("Content-ID", "<ii_lampu01>"),
                    ("X-Attachment-Id", "ii_lampu01"),
                ],
                encoding="base64",
            ),
        ],
    )
    inline = CorpusMail(
        "gmail_inline_image",
        message(
            [
                *_std(5, "Rina <rina.w@example.org>", "Lampu jalan mati"),
                ("Content-Type", f'multipart/related; boundary="{boundary}"'),
            ],
            related,
        ),
        Expect(kept=1, filenames=("lampu.jpg",), contains=("Lampu PJU mati",)),
    )
    forward_inline = CorpusMail(
        "gmail_inline_forward",
        _simple(
            6,
            "Lurah Contoh <lurah.contoh@example.org>",
            "Fwd: Sampah menumpuk",
            b"Mohon ditindaklanjuti.\n\n---------- Forwarded message ---------\nFrom: Warga <warga.rt07@example.com>\n"
            b"Date: Sun, Nov 22, 2026 at 7:10 PM\nSubject: Sampah menumpuk\n\n"
            b"Sampah di TPS Jl. Melati belum diangkut 5 hari.\n",
        ),
        Expect(contains=("Mohon ditindaklanjuti", "belum diangkut 5 hari")),
    )
    return [first, second, third, photo, inline, forward_inline]


_OUTLOOK_HTML = (
    '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
    '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    '<style><!-- p.MsoNormal {margin:0cm; font-family:"Calibri",sans-serif;} --></style>'
    '<script>var tracking = 1;</script></head><body lang="EN-US"><div class="WordSection1">'
    '<p class="MsoNormal">Yth. Pemprov DKI,<o:p></o:p></p><p class="MsoNormal">Trotoar di Jl. Sudirman dekat halte '
    "Dukuh Atas rusak parah, berbahaya bagi pejalan kaki \u2013 terutama lansia.<o:p></o:p></p>"
    '<p class="MsoNormal">Salam,<br>Andreas<o:p></o:p></p>'
    '<div style="border:none;border-top:solid #E1E1E1 1.0pt"><p class="MsoNormal"><b>From:</b> Pengaduan DKI '
    "&lt;dki@jakarta.go.id&gt;<br><b>Sent:</b> Friday, November 20, 2026 10:15 AM<br><b>To:</b> Andreas<br>"
    '<b>Subject:</b> Tanggapan</p></div><p class="MsoNormal">Terima kasih atas laporan sebelumnya.</p>'
    "</div></body></html>"
)


def _outlook() -> list[CorpusMail]:
    html_only = CorpusMail(
        "outlook_html_only",
        _simple(
            10,
            "Andreas Wijaya <andreas.wijaya@example.com>",
            "Trotoar rusak Jl. Sudirman",
            _OUTLOOK_HTML.encode("cp1252"),
            ctype='text/html; charset="windows-1252"',
            cte="quoted-printable",
            extra=(
                ("Thread-Topic", "Trotoar rusak Jl. Sudirman"),
                ("X-MS-Has-Attach", ""),
                ("Content-Language", "en-US"),
            ),
        ),
        Expect(
            contains=("Trotoar di Jl. Sudirman", "pejalan kaki – terutama lansia"),
            absent=("MsoNormal", "tracking", "Calibri", "Terima kasih atas laporan sebelumnya"),
        ),
    )
    boundary = "_000_SG2PR01MB1234abcd_"
    tnef = CorpusMail(
        "outlook_winmail",
        message(
            [
                *_std(11, '"Hendra Gunawan" <hendra.g@example.com>', "Parkir liar di trotoar"),
                ("Content-Type", f'multipart/mixed; boundary="{boundary}"'),
                ("X-MS-TNEF-Correlator", "<SG2PR01MB1234@example.com>"),
            ],
            multipart(
                boundary,
                [
                    part(
                        'text/plain; charset="us-ascii"',
                        b"Banyak mobil parkir liar di trotoar Jl. Kramat Raya setiap malam.\n",
                    ),
                    part(
                        'application/ms-tnef; name="winmail.dat"',
                        b"\x78\x9f\x3e\x22" + bytes(range(256)) * 4,
                        [("Content-Disposition", 'attachment; filename="winmail.dat"')],
                        encoding="base64",
                    ),
                ],
            ),
        ),
        Expect(kept=1, filenames=("winmail.dat",), contains=("parkir liar",)),
    )
    original = CorpusMail(
        "outlook_original_message",
        _simple(
            12,
            "Maria <maria.s@example.com>",
            "RE: Banjir Kampung Melayu",
            b"Air sudah setinggi lutut di RW 03.\n\n-----Original Message-----\nFrom: Pengaduan DKI\n"
            b"Sent: Monday, November 23, 2026 7:00 AM\nSubject: Banjir\n\nMohon kirim lokasi.\n",
        ),
        Expect(contains=("setinggi lutut",), absent=("Original Message", "kirim lokasi")),
    )
    dari = CorpusMail(
        "outlook_indonesian_header",
        _simple(
            13,
            "Dewi <dewi.k@example.org>",
            "RE: Pengaduan PJU",
            b"Lampu sudah menyala lagi, terima kasih.\n\n________________________________\n"
            b"Dari: Pengaduan DKI <dki@jakarta.go.id>\n"
            b"Dikirim: Senin, 23 November 2026 10.00\nKepada: Dewi\n"
            b"Perihal: Pengaduan PJU\n\nLaporan diteruskan ke Dinas Bina Marga.\n",
        ),
        Expect(contains=("menyala lagi",), absent=("Dinas Bina Marga", "________")),
    )
    return [html_only, tnef, original, dari]


def _mobile() -> list[CorpusMail]:
    iphone = CorpusMail(
        "iphone_signature",
        _simple(
            20,
            "Yusuf <yusuf.a@example.org>",
            "Pipa PAM bocor",
            b"Pipa PAM bocor di depan gang Masjid Al-Ikhlas, air terbuang sejak subuh.\n\nDikirim dari iPhone saya\n",
            ctype="text/plain; charset=utf-8; format=flowed",
            cte="quoted-printable",
            extra=(("X-Mailer", "iPhone Mail (21B101)"),),
        ),
        Expect(contains=("air terbuang sejak subuh",), absent=("iPhone",)),
    )
    outer, inner = "Apple-Mail-1B2C3D4E-0021", "Apple-Mail-5F6A7B8C-0021"
    apple = CorpusMail(
        "iphone_alternative_photo",
        message(
            [
                *_std(21, "Yusuf <yusuf.a@example.org>", "Foto jalan berlubang"),
                ("Content-Type", f"multipart/alternative; boundary={outer}"),
            ],
            multipart(
                outer,
                [
                    part(
                        "text/plain; charset=utf-8",
                        b"Jalan berlubang besar di Jl. Salemba.\n\nDikirim dari iPhone saya",
                    ),
                    part(
                        f'multipart/related; type="text/html"; boundary={inner}',
                        multipart(
                            inner,
                            [
                                part(
                                    "text/html; charset=utf-8",
                                    b'<html><body>Jalan berlubang besar di Jl. Salemba.'
                                    b'<img src="cid:F1A2"></body></html>',
                                ),
                                part(
                                    'image/jpeg; name="IMG_0421.jpeg"',
                                    fake_jpeg(21, 30_000),
                                    [
                                        ("Content-Disposition", 'inline; filename="IMG_0421.jpeg"'),
                                        ("Content-Id", "<F1A2>"),
                                    ],
                                    encoding="base64",
                                ),
                            ],
                        ),
                    ),
                ],
            ),
        ),
        Expect(kept=1, filenames=("IMG_0421.jpeg",), contains=("Jl. Salemba",), absent=("iPhone",)),
    )
    android = CorpusMail(
        "android_gmail",
        _gmail_alt(
            22,
            "Agus Salim <agus.salim@example.com>",
            "Kabel listrik menjuntai",
            "Kabel menjuntai rendah di Jl. Tebet Barat IV, bisa tersangkut motor.\n\nSent from my Android phone\n",
        ),
        Expect(contains=("menjuntai rendah",), absent=("Android",)),
    )
    samsung = CorpusMail(
        "android_samsung",
        _simple(
            23,
            "Nur <nur.h@example.org>",
            "Pengaduan anjal",
            b"Ada anak jalanan tidur di kolong flyover Pasar Rebo setiap malam.\n\n\n-------- Pesan asli --------\n"
            b"Dari: Pengaduan DKI\nTanggal: 22/11/26 18.00\n\nMohon detail lokasinya.\n",
            extra=(("X-Mailer", "Samsung Email"),),
        ),
        Expect(contains=("kolong flyover",), absent=("Pesan asli", "detail lokasinya")),
    )
    yahoo = CorpusMail(
        "yahoo_android",
        _simple(
            24,
            "Ratna <ratna.d@example.com>",
            "Air PAM keruh",
            b"Air PAM keruh dan berbau sejak tiga hari di Cilincing.\n\nDikirim dari Yahoo Mail di Android\n",
        ),
        Expect(contains=("berbau",), absent=("Yahoo",)),
    )
    return [iphone, apple, android, samsung, yahoo]


def _charsets() -> list[CorpusMail]:
    text = (
        "Harga sewa rusun naik – warga keberatan. Bu Désirée dari Blok C sudah lapor ke pengelola."
    )
    return [
        CorpusMail(
            "base64_utf8",
            _simple(30, "Ani <ani@example.org>", "Sewa rusun", text.encode(), cte="base64"),
            Expect(contains=("naik – warga", "Désirée")),
        ),
        CorpusMail(
            "qp_utf8",
            _simple(
                31, "Ani <ani@example.org>", "Sewa rusun (2)", text.encode(), cte="quoted-printable"
            ),
            Expect(contains=("Désirée",)),
        ),
        CorpusMail(
            "iso_8859_1",
            _simple(
                32,
                "Rene <rene@example.com>",
                "Pasar becek",
                "Pasar becek di Jatinegara, café sebelah juga kebanjiran.".encode("latin-1"),
                ctype="text/plain; charset=iso-8859-1",
                cte="8bit",
            ),
            Expect(contains=("café sebelah",)),
        ),
        CorpusMail(
            "windows_1252",
            _simple(
                33,
                "Rene <rene@example.com>",
                "Pungli",
                "Ada \u201cpungutan\u201d Rp 50.000 \u2013 katanya untuk kebersihan.".encode(
                    "cp1252"
                ),
                ctype="text/plain; charset=windows-1252",
                cte="quoted-printable",
            ),
            Expect(contains=("\u201cpungutan\u201d Rp 50.000 \u2013",)),
        ),
        CorpusMail(
            "declared_latin1_is_utf8",
            _simple(
                34,
                "Tono <tono@example.org>",
                "Salah charset",
                "Kali Ciliwung penuh sampah plastik – mohon dibersihkan, merci café.".encode(),
                ctype="text/plain; charset=iso-8859-1",
                cte="8bit",
            ),
            Expect(contains=("plastik – mohon", "café")),
        ),
        CorpusMail(
            "declared_utf8_is_cp1252",
            _simple(
                35,
                "Tono <tono@example.org>",
                "Salah charset 2",
                "Lubang galian kabel tidak ditutup, caf\xe9 di pojok jadi sepi.".encode("latin-1"),
                ctype="text/plain; charset=utf-8",
                cte="8bit",
            ),
            Expect(contains=("café di pojok",)),
        ),
        CorpusMail(
            "unknown_charset",
            _simple(
                36,
                "Tono <tono@example.org>",
                "Charset aneh",
                "Drainase tersumbat di Jl. Hayam Wuruk – sudah seminggu.".encode(),
                ctype="text/plain; charset=x-unknown-8bit-kanal",
                cte="8bit",
            ),
            Expect(contains=("Hayam Wuruk – sudah",)),
        ),
        CorpusMail(
            "utf8_one_bad_byte",
            _simple(
                38,
                "Tono <tono@example.org>",
                "Satu byte rusak",
                "Trotoar Jl. Cikini rusak \u2013 bahaya untuk lansia \U0001f475.".encode()
                + b"\xff"
                + " Mohon segera, caf\u00e9 sebelah juga mengeluh.".encode(),
                ctype="text/plain; charset=utf-8",
                cte="8bit",
            ),
            Expect(
                contains=("rusak \u2013 bahaya", "\U0001f475", "caf\u00e9 sebelah"),
                absent=("\u00c3", "\u00e2"),
            ),
        ),
        CorpusMail(
            "utf8_with_nul_bytes",  # Dovecot serves each NUL as 0x80
            _simple(
                39,
                "Tono <tono@example.org>",
                "NUL",
                "Pompa air \u2013 rusak\x00\x00 sejak Senin.".encode(),
                ctype="text/plain; charset=utf-8",
                cte="8bit",
            ),
            Expect(contains=("Pompa air \u2013 rusak sejak Senin.",), absent=("\u20ac",)),
        ),
        CorpusMail(
            "declared_utf8_is_cp1252_quotes",
            _simple(
                80,
                "Rene <rene@example.com>",
                "Salah charset 3",
                "Petugas minta \u201cuang rokok\u201d \u2013 caf\u00e9 di pojok.".encode("cp1252"),
                ctype="text/plain; charset=utf-8",
                cte="8bit",
            ),
            Expect(contains=("\u201cuang rokok\u201d \u2013 caf\u00e9",)),
        ),
        CorpusMail(
            "undeclared_charset_utf8",
            _simple(
                81,
                "Tono <tono@example.org>",
                "Tanpa charset",
                "Bu D\u00e9sir\u00e9e \u2013 RT 03.".encode() + b"\xfe",
                ctype="text/plain",
                cte="8bit",
            ),
            Expect(contains=("Bu D\u00e9sir\u00e9e \u2013 RT 03.",)),
        ),
        CorpusMail(
            "undeclared_charset_cp1252",
            _simple(
                82,
                "Rene <rene@example.com>",
                "Tanpa charset 2",
                "Bu D\u00e9sir\u00e9e \u2013 RT 04.".encode("cp1252"),
                ctype="text/plain",
                cte="8bit",
            ),
            Expect(contains=("Bu D\u00e9sir\u00e9e \u2013 RT 04.",)),
        ),
        CorpusMail(
            "rfc2047_subject_filename",
            message(
                [
                    *_std(
                        37,
                        "=?UTF-8?B?QnUgU8OpbmE=?= <bu.sena@example.org>",
                        "=?UTF-8?Q?Jembatan_penyeberangan_r=C3=BAsak?=",
                    ),
                    ("Content-Type", 'multipart/mixed; boundary="b37"'),
                ],
                multipart(
                    "b37",
                    [
                        part(
                            "text/plain; charset=utf-8",
                            b"Tangga JPO Kramat rusak, lihat foto.",
                        ),
                        part(
                            "image/jpeg",
                            fake_jpeg(37, 3000),
                            [
                                (
                                    "Content-Disposition",
                                    "attachment; filename*=UTF-8''foto%20jembatan%20r%C3%BAsak.jpg",
                                )
                            ],
                            encoding="base64",
                        ),
                        part(
                            'image/png; name="=?utf-8?q?denah_lokasi=C3=A9.png?="',
                            b"\x89PNG\r\n\x1a\n" + bytes(200),
                            [
                                (
                                    "Content-Disposition",
                                    'attachment; filename="=?utf-8?q?denah_lokasi=C3=A9.png?="',
                                )
                            ],
                            encoding="base64",
                        ),
                    ],
                ),
            ),
            Expect(
                title="Jembatan penyeberangan rúsak",
                kept=2,
                filenames=("foto jembatan rúsak.jpg", "denah lokasié.png"),
            ),
        ),
    ]


def _files() -> list[CorpusMail]:
    return [
        CorpusMail(
            "huge_attachment",
            _with_files(
                40,
                "Eko <eko@example.org>",
                "Video banjir",
                "Video banjir terlampir.",
                [
                    part(
                        'video/mp4; name="banjir.mp4"',
                        bytes(1_200_000),
                        [("Content-Disposition", 'attachment; filename="banjir.mp4"')],
                        encoding="base64",
                    )
                ],
            ),
            Expect(omitted=("too_large",), filenames=("banjir.mp4",), contains=("Video banjir",)),
        ),
        CorpusMail(
            "zero_byte_attachment",
            _with_files(
                41,
                "Eko <eko@example.org>",
                "Foto kosong",
                "Fotonya gagal terkirim sepertinya.",
                [
                    part(
                        'image/jpeg; name="kosong.jpg"',
                        b"",
                        [("Content-Disposition", 'attachment; filename="kosong.jpg"')],
                        encoding="base64",
                    )
                ],
            ),
            Expect(omitted=("empty",), filenames=("kosong.jpg",)),
        ),
        CorpusMail(
            "message_cap",
            _with_files(
                42,
                "Eko <eko@example.org>",
                "Banyak foto",
                "Empat foto genangan.",
                [_jpeg(42 + i, f"genangan{i}.jpg", 600_000) for i in range(3)],
            ),
            Expect(kept=2, omitted=("message_cap",)),
        ),
        CorpusMail(
            "path_traversal_name",
            _with_files(
                43,
                "Iseng <iseng@example.com>",
                "Lampiran aneh",
                "Cek lampiran.",
                [
                    part(
                        "application/octet-stream",
                        b"bukan apa-apa",
                        [("Content-Disposition", 'attachment; filename="../../etc/passwd"')],
                        encoding="base64",
                    )
                ],
            ),
            Expect(kept=1, filenames=("passwd",)),
        ),
        CorpusMail(
            "photo_no_text",
            _with_files(
                44,
                "Lina <lina@example.org>",
                "Sampah di kali Sunter",
                "",
                [_jpeg(44, "kali.jpg", 5000)],
            ),
            Expect(kept=1, contains=("Sampah di kali Sunter",)),
        ),
        CorpusMail(
            "pdf_and_docx",
            _with_files(
                45,
                "RT 09 <rt09.rw04@example.org>",
                "Surat pengantar RT",
                "Terlampir surat pengantar RT dan daftar warga terdampak.",
                [
                    part(
                        'application/pdf; name="surat.pdf"',
                        b"%PDF-1.4\n%made-up\n" + bytes(300),
                        [("Content-Disposition", 'attachment; filename="surat.pdf"')],
                        encoding="base64",
                    ),
                    part(
                        'application/vnd.openxmlformats-officedocument.wordprocessingml.document; name="daftar.docx"',
                        b"PK\x03\x04" + bytes(500),
                        [("Content-Disposition", 'attachment; filename="daftar.docx"')],
                        encoding="base64",
                    ),
                ],
            ),
            Expect(kept=2, filenames=("surat.pdf", "daftar.docx")),
        ),
    ]


def _forwards() -> list[CorpusMail]:
    inner = message(
        [
            ("From", "Warga Cakung <warga.cakung@example.com>"),
            TO,
            ("Subject", "Jalan ambles"),
            ("Date", "Sat, 21 Nov 2026 17:00:00 +0700"),
            ("Message-ID", "<inner-50@example.com>"),
            ("Content-Type", 'multipart/mixed; boundary="in50"'),
        ],
        multipart(
            "in50",
            [
                part("text/plain; charset=utf-8", b"Jalan ambles di Jl. Raya Bekasi km 22."),
                _jpeg(50, "ambles.jpg", 4000),
            ],
        ),
    )
    outer = message(
        [
            *_std(50, "Camat Contoh <camat.contoh@example.org>", "Fwd: Jalan ambles"),
            ("Content-Type", 'multipart/mixed; boundary="out50"'),
        ],
        multipart(
            "out50",
            [
                part(
                    "text/plain; charset=utf-8", b"Mohon ditindaklanjuti, laporan warga terlampir."
                ),
                part(
                    "message/rfc822",
                    inner,
                    [("Content-Disposition", 'attachment; filename="Jalan ambles.eml"')],
                ),
            ],
        ),
    )
    only = message(
        [
            *_std(51, "Staf Kelurahan <staf.kel@example.org>", "Fw: Jalan ambles"),
            ("Content-Type", 'multipart/mixed; boundary="out51"'),
        ],
        multipart("out51", [part("message/rfc822", inner.replace(b"inner-50", b"inner-51"))]),
    )
    return [
        CorpusMail(
            "forwarded_rfc822",
            outer,
            Expect(
                contains=("Mohon ditindaklanjuti",),
                context="Jl. Raya Bekasi km 22",
                kept=1,
                filenames=("ambles.jpg",),
            ),
        ),
        CorpusMail(
            "forwarded_only",
            only,
            Expect(contains=("Jl. Raya Bekasi km 22", "Warga Cakung"), kept=1),
        ),
    ]


def _drops() -> list[CorpusMail]:
    dsn = "b60dsn"
    bounce = message(
        [
            ("From", "Mail Delivery System <MAILER-DAEMON@mx.example.net>"),
            TO,
            ("Subject", "Undelivered Mail Returned to Sender"),
            ("Date", "Mon, 23 Nov 2026 09:00:00 +0700"),
            ("Message-ID", "<bounce-60@mx.example.net>"),
            ("Auto-Submitted", "auto-replied"),
            ("Content-Type", f'multipart/report; report-type=delivery-status; boundary="{dsn}"'),
        ],
        multipart(
            dsn,
            [
                part(
                    "text/plain; charset=us-ascii",
                    b"I'm sorry to have to inform you that your message could not be delivered.",
                ),
                part(
                    "message/delivery-status",
                    b"Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; nobody@example.net\n"
                    b"Action: failed\nStatus: 5.1.1\n",
                ),
                part(
                    "text/rfc822-headers",
                    b"From: dki@jakarta.go.id\nTo: nobody@example.net\nSubject: Tanggapan\n",
                ),
            ],
        ),
    )
    return [
        CorpusMail("bounce_dsn", bounce, Expect("drop", "bounce")),
        CorpusMail(
            "bounce_exim",
            _simple(
                61,
                "Mail Delivery System <Mailer-Daemon@mx2.example.net>",
                "Mail delivery failed",
                b"This message was created automatically by mail delivery software.\n",
                extra=(("X-Failed-Recipients", "nobody@example.net"),),
            ),
            Expect("drop", "bounce"),
        ),
        CorpusMail(
            "auto_reply_outlook",
            _simple(
                62,
                "Kepala Seksi <kasi@example.org>",
                "Automatic reply: Laporan",
                b"Saya sedang cuti sampai 30 November.\n",
                extra=(("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")),
            ),
            Expect("drop", "auto_reply"),
        ),
        CorpusMail(
            "auto_reply_x_autoreply",
            _simple(
                63,
                "Kantor <kantor@example.com>",
                "Balasan Otomatis",
                b"Terima kasih, email Anda sudah kami terima.\n",
                extra=(("X-Autoreply", "yes"),),
            ),
            Expect("drop", "auto_reply"),
        ),
        CorpusMail(
            "auto_respond",
            _simple(
                64,
                "Toko <info@example.com>",
                "Re: Pertanyaan",
                b"Kami akan membalas dalam 1x24 jam.\n",
                extra=(("X-Autorespond", "Re: Pertanyaan"),),
            ),
            Expect("drop", "auto_reply"),
        ),
        CorpusMail(
            "newsletter_bulk",
            _simple(
                65,
                "Buletin <news@example.com>",
                "Promo akhir tahun",
                b"Diskon 50%!\n",
                extra=(("Precedence", "bulk"), ("List-Unsubscribe", "<mailto:unsub@example.com>")),
            ),
            Expect("drop", "auto_reply"),
        ),
        CorpusMail(
            "mailing_list",
            _simple(
                66,
                "Forum RW <forum-rw@example.org>",
                "[forum] rapat",
                b"Rapat RW hari Minggu.\n",
                extra=(("Precedence", "list"), ("List-Id", "<forum.example.org>")),
            ),
            Expect("drop", "auto_reply"),
        ),
        CorpusMail(
            "own_address",
            _simple(
                67,
                "Pengaduan DKI <DKI@jakarta.go.id>",
                "Tanggapan laporan",
                b"Laporan Anda sudah diteruskan.\n",
            ),
            Expect("drop", "own_address"),
        ),
        CorpusMail(
            "auto_submitted_no",
            _simple(
                68,
                "Joko <joko@example.org>",
                "Trotoar",
                b"Trotoar ditutup pedagang.\n",
                extra=(("Auto-Submitted", "no"),),
            ),
            Expect(contains=("ditutup pedagang",)),
        ),
    ]


def _odd() -> list[CorpusMail]:
    long_text = (
        "Kronologi: " + "warga sudah melapor berkali-kali ke kelurahan tanpa hasil. " * 250
    ).encode()
    return [
        CorpusMail(
            "no_subject",
            _simple(
                70,
                "Wati <wati@example.org>",
                None,
                b"Ada pohon rawan tumbang di Jl. Gunung Sahari.\n",
            ),
            Expect(title=None, contains=("rawan tumbang",)),
        ),
        CorpusMail(
            "no_from",
            message(
                [
                    TO,
                    ("Subject", "Tanpa pengirim"),
                    ("Date", "Mon, 23 Nov 2026 10:00:00 +0700"),
                    ("Message-ID", "<corpus-71@mail.example.org>"),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
                b"Genangan di underpass Kemayoran.\n",
            ),
            Expect(contains=("underpass Kemayoran",), flags=("no_sender",)),
        ),
        CorpusMail(
            "no_message_id",
            message(
                [
                    ("From", "Hadi <hadi@example.com>"),
                    TO,
                    ("Subject", "Tanpa Message-ID"),
                    ("Date", "Mon, 23 Nov 2026 10:05:00 +0700"),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
                b"Halte busway rusak atapnya.\n",
            ),
            Expect(contains=("Halte busway",), hashed_id=True),
        ),
        CorpusMail(
            "broken_message_id",  # a lone "<" named no message: it crashed the id (a long fuzz run found it)
            message(
                [
                    ("From", "Hadi <hadi@example.com>"),
                    TO,
                    ("Subject", "Message-ID rusak"),
                    ("Message-ID", "<"),
                    ("Date", "Mon, 23 Nov 2026 10:07:00 +0700"),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
                b"Trotoar amblas di Jl. Salemba Raya.\n",
            ),
            Expect(contains=("Salemba",), hashed_id=True),
        ),
        CorpusMail(
            "no_date",
            message(
                [
                    ("From", "Hadi <hadi@example.com>"),
                    TO,
                    ("Subject", "Tanpa tanggal"),
                    ("Message-ID", "<corpus-73@mail.example.org>"),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
                b"Marka jalan pudar di Jl. Daan Mogot.\n",
            ),
            Expect(contains=("Daan Mogot",)),
        ),
        CorpusMail(
            "bad_date",
            _simple(
                74,
                "Hadi <hadi@example.com>",
                "Tanggal aneh",
                b"Rambu hilang di simpang Grogol.\n",
                date="kemarin sore {}",
            ),
            Expect(contains=("Rambu hilang",)),
        ),
        CorpusMail(
            "signature_dashes",
            _simple(
                75,
                "Budi Santoso <budi.s@example.org>",
                "Fogging",
                b"Mohon fogging, sudah ada 3 warga kena DBD di RT 05."
                b"\n\n-- \nBudi Santoso\nKetua RT 05/RW 02\n+62812000 1234\n",
            ),
            Expect(contains=("kena DBD",), absent=("Ketua RT", "+62812000")),
        ),
        CorpusMail(
            "html_script_only",
            _simple(
                76,
                "Web Form <form@example.com>",
                "Formulir",
                b"<html><head><script>alert('x')</script><style>body{color:red}</style></head><body><p>Parkir liar di "
                b"Jl. Hasyim Ashari.</p><p>Pelapor: Anonim</p></body></html>",
                ctype="text/html; charset=utf-8",
            ),
            Expect(
                contains=("Parkir liar di Jl. Hasyim Ashari", "Pelapor: Anonim"),
                absent=("alert", "color:red"),
            ),
        ),
        CorpusMail(
            "very_long",
            _simple(77, "Panjang <panjang@example.org>", "Kronologi lengkap", long_text),
            Expect(truncated=True, contains=("Kronologi:",)),
        ),
        CorpusMail(
            "two_text_parts",
            message(
                [
                    *_std(78, "Sari <sari@example.org>", "Dua bagian"),
                    ("Content-Type", 'multipart/mixed; boundary="b78"'),
                ],
                multipart(
                    "b78",
                    [
                        part("text/plain; charset=utf-8", b"Bagian pertama: lampu mati."),
                        _jpeg(78, "lampu.jpg", 1000, "inline"),
                        part("text/plain; charset=utf-8", b"Bagian kedua: di Jl. Mangga Besar."),
                    ],
                ),
            ),
            Expect(contains=("Bagian pertama", "Bagian kedua"), kept=1),
        ),
        CorpusMail(
            "broken_base64_part",
            message(
                [
                    *_std(79, "Rudi <rudi@example.org>", "Base64 rusak"),
                    ("Content-Type", 'multipart/mixed; boundary="b79"'),
                ],
                multipart(
                    "b79",
                    [
                        part("text/plain; charset=utf-8", b"Teks utuh: saluran air meluap."),
                        part(
                            "text/plain; charset=utf-8",
                            b"!!! bukan base64 ***",
                            extra=[("Content-Transfer-Encoding", "base64")],
                        ),
                    ],
                ),
            ),
            Expect(
                contains=("saluran air meluap",),
                flags=("part_unreadable:text/plain: invalid base64",),
            ),
        ),
        CorpusMail(
            "broken_base64_no_closing_boundary",
            message(
                [
                    *_std(83, "Rudi <rudi@example.org>", "Base64 rusak, terpotong"),
                    ("Content-Type", 'multipart/mixed; boundary="b83"'),
                ],
                b"--b83\r\n"
                + part("text/plain; charset=utf-8", b"Teks utuh: lampu PJU mati.")
                + b"\r\n--b83\r\n"
                + part(
                    "text/plain; charset=utf-8",
                    b"Isi ini RUSAK sekali!!\r\n",
                    extra=[("Content-Transfer-Encoding", "base64")],
                ),
            ),
            Expect(
                contains=("lampu PJU mati",),
                absent=("RUSAK",),
                flags=("part_unreadable:text/plain: invalid base64",),
            ),
        ),
        CorpusMail(
            "not_an_email",
            b"\xff\xfe\x00garbage \x89\x90 this is not mail at all\r\n\xde\xad\xbe\xef\r\n",
            Expect("quarantine"),
        ),
    ]


CORPUS: list[CorpusMail] = [
    *_gmail(),
    *_outlook(),
    *_mobile(),
    *_charsets(),
    *_files(),
    *_forwards(),
    *_drops(),
    *_odd(),
]
