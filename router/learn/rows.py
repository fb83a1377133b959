"""Training rows: read CSV or JSONL history files, and map CRM labels to agency codes.

A row is ``{text, agency, category, kelurahan}``: ``text`` and ``agency`` (the label,
whatever the CRM calls the agency) are required, the other two optional.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: CRM agency names and sub-units seen in CRM history, mapped to Kanal's agency codes.
#: A config's ``router.labels`` adds to (and overrides) these; an agency code or an
#: agency's name from the rules file always maps to itself.
KNOWN_LABELS: dict[str, str] = {
    "dinas bina marga": "binamarga", "unit peralatan dan perbekalan bina marga": "binamarga",
    "dinas perhubungan": "dishub", "unit pengelola perparkiran": "dishub",
    "dinas sumber daya air": "sda", "dinas pertamanan dan hutan": "distamhut",
    "dinas pertamanan dan hutan kota": "distamhut", "dinas lingkungan hidup": "dlh",
    "satuan polisi pamong praja": "satpolpp", "satpol pp": "satpolpp", "dinas sosial": "dinsos",
    "dinas cipta karya, tata ruang dan pertanahan": "citata", "dinas citata": "citata",
    "dinas kesehatan": "dinkes", "dinas penanggulangan kebakaran dan penyelamatan": "gulkarmat",
    "dinas kependudukan dan pencatatan sipil": "dukcapil", "badan pendapatan daerah": "bapenda",
    "bp bumd": "bpbumd", "pd pasar jaya": "bpbumd", "perumda pasar jaya": "bpbumd",
    "pt transportasi jakarta": "bpbumd", "transjakarta": "bpbumd", "pam jaya": "bpbumd",
    "kelurahan": "kelurahan", "inspektorat": "inspektorat", "inspektorat provinsi dki jakarta": "inspektorat",
}


class RowsError(ValueError):
    """The history file cannot be read; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled complaint."""

    text: str
    agency: str
    category: str = ""
    kelurahan: str = ""
    #: How much the row counts in training (1 for history; the default model weighs its
    #: hand-written rows more, router/learn/default.py).
    weight: float = 1.0


def read_rows(path: Path) -> list[Row]:
    """Read a CSV (UTF-8, header row) or JSONL file of history rows.

    Raises:
        RowsError: unreadable file, missing ``text``/``agency`` column, or a bad line.
    """
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read {path}: {exc}"
        raise RowsError(msg) from exc
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        records = []
        for n, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    msg = f"{path}:{n}: not JSON: {exc.msg}"
                    raise RowsError(msg) from exc
    else:
        reader = csv.DictReader(raw.splitlines())
        missing = {"text", "agency"} - set(reader.fieldnames or ())
        if missing:
            msg = f"{path}: missing column(s) {', '.join(sorted(missing))} (header: {reader.fieldnames})"
            raise RowsError(msg)
        records = list(reader)
    return rows_from_records(records, str(path))


def rows_from_records(records: Iterable[Mapping], source: str = "<rows>") -> list[Row]:
    """Rows from dicts; rows with an empty text or label are skipped (they teach nothing)."""
    rows = []
    for n, rec in enumerate(records, 1):
        if not isinstance(rec, Mapping) or "text" not in rec or "agency" not in rec:
            msg = f"{source}: row {n} has no 'text' or 'agency'"
            raise RowsError(msg)
        text, agency = str(rec.get("text") or "").strip(), str(rec.get("agency") or "").strip()
        if text and agency:
            rows.append(Row(text, agency, str(rec.get("category") or ""), str(rec.get("kelurahan") or "")))
    return rows


#: Most labels whose agency :class:`LabelMap` remembers.
_LABELS_REMEMBERED = 1000


def label_key(label: str) -> str:
    """Normalised form of a CRM label for lookup ("DINAS BINA MARGA " -> "dinas bina marga")."""
    return " ".join(label.lower().replace("_", " ").split())


class LabelMap:
    """CRM label -> Kanal agency code, from :data:`KNOWN_LABELS`, the rules' agencies and the config."""

    def __init__(self, agencies: Mapping[str, object], configured: Mapping[str, str] | None = None) -> None:
        self.agencies = set(agencies)
        table = {k: v for k, v in KNOWN_LABELS.items() if v in self.agencies}
        for code, spec in agencies.items():
            table[label_key(code)] = code
            name = getattr(spec, "name", None)
            if name:
                table[label_key(name)] = code
        table.update({label_key(k): v for k, v in (configured or {}).items()})
        self._table = table
        self._by_label: dict[str, str | None] = {}

    def agency(self, label: str) -> str | None:
        """The agency code of ``label``, or None when unmapped (such a complaint goes to triage)."""
        if label in self._by_label:  # a model has a few labels, asked three times per decision
            return self._by_label[label]
        code = self._table.get(label_key(label))
        code = code if code in self.agencies else None
        if len(self._by_label) < _LABELS_REMEMBERED:
            self._by_label[label] = code
        return code

    def unmapped(self, labels: Iterable[str]) -> list[str]:
        """The labels that map to no agency, sorted."""
        return sorted({lb for lb in labels if self.agency(lb) is None})
