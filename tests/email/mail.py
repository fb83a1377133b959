"""Plain made-up complaint mail for the delivery tests (the corpus covers the quirks)."""

from __future__ import annotations

from tests.email.corpus.build import fake_jpeg, message, multipart, part


def complaint_mail(n: int, photo_bytes: int = 0, tag: str = "t") -> bytes:
    """Complaint number ``n``: a short text, optionally with a made-up photo."""
    items = [
        ("From", f"Warga {n} <warga{n}@example.org>"),
        ("To", "dki@jakarta.go.id"),
        ("Subject", f"Laporan {tag}-{n}: saluran tersumbat"),
        ("Date", "Tue, 24 Nov 2026 07:30:00 +0700"),
        ("Message-ID", f"<{tag}-{n}@warga.example.org>"),
        ("MIME-Version", "1.0"),
    ]
    text = (
        f"Saluran air di RT {n % 20 + 1:02d} tersumbat sejak kemarin. Mohon dibersihkan.\n".encode()
    )
    if not photo_bytes:
        return message([*items, ("Content-Type", "text/plain; charset=utf-8")], text)
    boundary = f"b-{tag}-{n}"
    body = multipart(
        boundary,
        [
            part("text/plain; charset=utf-8", text),
            part(
                f'image/jpeg; name="foto{n}.jpg"',
                fake_jpeg(n, photo_bytes),
                [("Content-Disposition", f'attachment; filename="foto{n}.jpg"')],
                encoding="base64",
            ),
        ],
    )
    return message([*items, ("Content-Type", f'multipart/mixed; boundary="{boundary}"')], body)
