"""The shipped development set and default model (router/data/devset/, router/data/default_model.skops).

Rebuild both, deterministically: ``python -m router.learn.default``. The default model
is trained on the generated dev part (2,400 rows) and on the hand-written complaints of
router/eval/dev.tsv (169 rows, each weighing ``HAND_WRITTEN_WEIGHT``); the held-out parts
(600 generated rows from disjoint phrase pools and templates plus 26 hand-written ones,
and router/eval/holdout.tsv) are only ever scored, never tuned on. See
router/data/devset/README.md.
"""

from __future__ import annotations

import csv
from pathlib import Path

from router.learn.rows import Row
from router.learn.synth import generate, hand_written

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
EVAL_DIR = Path(__file__).resolve().parents[1] / "eval"
DEVSET_DIR = DATA_DIR / "devset"
DEFAULT_MODEL_PATH = DATA_DIR / "default_model.skops"
SEED = 12
DEV_ROWS = 2400
HOLDOUT_ROWS = 600
#: The generated rows alone taught the model a generator's small vocabulary: it routed
#: 75 % of router/eval/holdout.tsv right and sent 19 % to triage. Chosen by 5-fold
#: cross-validation over the hand-written rows (weights 1 to 25 scored within 1.2 points
#: of each other; 3 was best). docs/router.md, *The default model's training rows*.
HAND_WRITTEN_WEIGHT = 3.0


def write_csv(path: Path, rows: list[dict]) -> None:
    """Write rows with the columns text, agency, category, kelurahan."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "agency", "category", "kelurahan"])
        writer.writeheader()
        writer.writerows(rows)


def read_eval_rows(path: Path, weight: float = 1.0) -> list[Row]:
    """Rows of a router/eval/*.tsv file (columns agency, kelurahan, text; ``-``: no kelurahan)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [Row(r["text"], r["agency"], "", "" if r["kelurahan"] == "-" else r["kelurahan"], weight)
                for r in csv.DictReader(fh, delimiter="\t")]


def main() -> None:
    """Write the development set and train the default model on its dev part and the hand-written rows."""
    from router.learn.model import fit
    from router.learn.rows import read_rows

    write_csv(DEVSET_DIR / "dev.csv", list(generate(DEV_ROWS, SEED, "dev")))
    write_csv(DEVSET_DIR / "holdout.csv", list(generate(HOLDOUT_ROWS, SEED, "holdout")) + hand_written())
    model = fit(read_rows(DEVSET_DIR / "dev.csv") + read_eval_rows(EVAL_DIR / "dev.tsv", HAND_WRITTEN_WEIGHT))
    version = model.save(DEFAULT_MODEL_PATH)
    print(f"{DEFAULT_MODEL_PATH.name}: version {version}, {DEFAULT_MODEL_PATH.stat().st_size:,} bytes, "
          f"trained in {model.meta['train_seconds']} s on {model.meta['rows']} rows")


if __name__ == "__main__":
    main()
