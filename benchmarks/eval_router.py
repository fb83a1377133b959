"""Accuracy of the shipped rules on the evaluation set (router/eval/*.tsv).

Run: ``.venv/bin/python benchmarks/eval_router.py [--set dev|holdout|all] [--errors]``.
Prints agency accuracy per agency, a confusion table (rows: expected, columns:
routed) and kelurahan accuracy ("-" in the set means the text names no kelurahan;
then leaving the kelurahan empty is correct). A row labelled ``inspektorat`` counts as
right when the Inspektorat gets the complaint or its integrity copy (a pungli report
goes to the agency concerned with an anonymous copy to the Inspektorat); the summary
line also gives the figure without those. ``dev`` is the part the rules were tuned
on; ``holdout`` was written at the same time and never used for tuning.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.models import TopologyConfig
from router.engine import Router
from router.learn.routed_eval import row_complaint
from router.learn.rows import Row
from router.rules import load_rules

EVAL_DIR = Path(__file__).resolve().parents[1] / "router" / "eval"


def load_set(name: str) -> list[tuple[str, str, str]]:
    """Rows (agency, kelurahan, text) of ``dev``, ``holdout`` or ``all``."""
    names = ["dev", "holdout"] if name == "all" else [name]
    rows = []
    for n in names:
        with (EVAL_DIR / f"{n}.tsv").open(encoding="utf-8", newline="") as fh:
            rows += [(r["agency"], r["kelurahan"], r["text"]) for r in csv.DictReader(fh, delimiter="\t")]
    return rows


def evaluate(rows: list[tuple[str, str, str]], show_errors: bool) -> float:
    """Print the report; returns agency accuracy."""
    router = Router(load_rules(), TopologyConfig())
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    kel_ok = 0
    by_copy = 0
    for i, (agency, kelurahan, text) in enumerate(rows):
        routed = router.route(row_complaint(Row(text, agency), i))
        got = routed.agency_code
        if got != agency and routed.reaches(agency):  # the Inspektorat's integrity copy
            by_copy += 1
            got = agency
        confusion[agency][got] += 1
        found = routed.routing["location"]["kelurahan"] or "-"
        kel_ok += found.lower().replace(" ", "") == kelurahan.lower().replace(" ", "")
        if show_errors and got != agency:
            print(f"AGENCY {agency:>11} -> {got:<11} {text}")
        if show_errors and found.lower().replace(" ", "") != kelurahan.lower().replace(" ", ""):
            print(f"KEL    {kelurahan:>18} -> {found:<18} {text}")
    total = len(rows)
    correct = sum(confusion[a][a] for a in confusion)
    agencies = sorted(confusion)
    columns = sorted({g for c in confusion.values() for g in c})
    print(f"\n{'agency':<12} {'n':>4} {'acc':>6}")
    for a in agencies:
        n = sum(confusion[a].values())
        print(f"{a:<12} {n:>4} {confusion[a][a] / n:>6.1%}")
    print("\nconfusion (rows expected, columns routed)")
    print(" " * 12 + "".join(f"{c[:6]:>7}" for c in columns))
    for a in agencies:
        print(f"{a:<12}" + "".join(f"{confusion[a][c] or '.':>7}" for c in columns))
    print(f"\nagency accuracy:    {correct}/{total} = {correct / total:.1%}"
          f" ({by_copy} Inspektorat rows right by the integrity copy; without them"
          f" {correct - by_copy}/{total} = {(correct - by_copy) / total:.1%})")
    print(f"kelurahan accuracy: {kel_ok}/{total} = {kel_ok / total:.1%}")
    return correct / total


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", default="all", choices=["dev", "holdout", "all"])
    parser.add_argument("--errors", action="store_true", help="print every miss")
    args = parser.parse_args()
    if args.set == "all":
        for name in ("dev", "holdout"):
            print(f"=== {name} ===")
            evaluate(load_set(name), args.errors)
        print("=== all ===")
    evaluate(load_set(args.set), args.errors and args.set != "all")


if __name__ == "__main__":
    main()
