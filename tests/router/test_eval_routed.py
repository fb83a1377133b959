"""`kanal router eval --routed`: the whole router (rules, model, threshold, integrity rule)
on labelled history, counted right / triage / wrong next to the rules alone."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kanal.cli import main

#: CRM-style history: a label the router knows by its CRM name, a pungli report labelled
#: `inspektorat` (right through the integrity copy), a road labelled with a wrong agency,
#: a greeting (triage) and a label no agency has.
HISTORY = [
    ("jalan berlubang besar di depan sekolah, motor jatuh", "Dinas Bina Marga"),
    ("petugas kelurahan minta uang pungli buat surat domisili", "inspektorat"),
    ("jalan berlubang besar di depan pasar, mobil rusak", "dinkes"),
    ("halo selamat pagi admin", "sda"),
    ("got mampet bau", "Unit Entah"),
]


@pytest.fixture(name="history")
def _history(tmp_path: Path) -> Path:
    path = tmp_path / "history.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "agency"])
        writer.writerows(HISTORY)
    return path


def test_rules_alone_count_right_triage_wrong_and_name_the_unmapped_label(history, capsys):
    assert main(["router", "eval", "--routed", "--data", str(history), "--model", "none"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rules alone on history.csv: 4 rows routed"
    assert out[1] == "  as configured: right 50.0%, triage 25.0%, wrong 25.0%"
    assert out[2] == "  not scored, label maps to no agency (map it in router.labels): Unit Entah (1)"
    table = {line.split()[0]: line.split()[1:] for line in out[5:]}
    assert table == {
        "binamarga": ["1", "100.0%", "0.0%", "0.0%"],
        "dinkes": ["1", "0.0%", "0.0%", "100.0%"],
        "inspektorat": ["1", "100.0%", "0.0%", "0.0%"],  # the integrity copy reaches it
        "sda": ["1", "0.0%", "100.0%", "0.0%"],
    }


def test_with_the_model_the_rules_alone_are_shown_beside(history, capsys):
    assert main(["router", "eval", "--routed", "--data", str(history)]) == 0  # router.model's default
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("rules + model ") and "(threshold 0.50) on history.csv: 4 rows routed" in out[0]
    assert out[2] == "  rules alone:   right 50.0%, triage 25.0%, wrong 25.0%"


def test_the_configs_labels_and_model_setting_are_used(history, tmp_path, capsys):
    config = tmp_path / "kanal.yaml"
    config.write_text("router:\n  model: none\n  labels:\n    Unit Entah: sda\nchannels: []\n")
    assert main(["router", "eval", "--routed", "--data", str(history), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rules alone on history.csv: 5 rows routed\n")
    assert "not scored" not in out


def test_a_file_it_cannot_read_or_a_missing_model_exit_2_saying_why(tmp_path, history, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("x\n1\n")
    assert main(["router", "eval", "--routed", "--data", str(bad)]) == 2
    assert "missing column(s) agency, text" in capsys.readouterr().err
    assert main(["router", "eval", "--routed", "--data", str(history), "--model", str(tmp_path / "no.skops")]) == 2
    assert "cannot load model file" in capsys.readouterr().err
