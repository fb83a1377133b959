"""The shipped development set and default model (router/data/devset/, router/data/default_model.skops).

Rebuild both, deterministically: ``python -m router.learn.default``. The dev part
(2,400 rows) is what the default model is trained and cross-validated on; the held-out
part (600 generated rows from disjoint phrase pools and templates, plus the hand-written
rows) is only ever scored, never tuned on. See router/data/devset/README.md.
"""

from __future__ import annotations

import csv
from pathlib import Path

from router.learn.synth import generate, hand_written

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEVSET_DIR = DATA_DIR / "devset"
DEFAULT_MODEL_PATH = DATA_DIR / "default_model.skops"
SEED = 12
DEV_ROWS = 2400
HOLDOUT_ROWS = 600


def write_csv(path: Path, rows: list[dict]) -> None:
    """Write rows with the columns text, agency, category, kelurahan."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "agency", "category", "kelurahan"])
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    """Write the development set and train the default model on its dev part."""
    from router.learn.model import fit
    from router.learn.rows import read_rows

    write_csv(DEVSET_DIR / "dev.csv", list(generate(DEV_ROWS, SEED, "dev")))
    write_csv(DEVSET_DIR / "holdout.csv", list(generate(HOLDOUT_ROWS, SEED, "holdout")) + hand_written())
    model = fit(read_rows(DEVSET_DIR / "dev.csv"))
    version = model.save(DEFAULT_MODEL_PATH)
    print(f"{DEFAULT_MODEL_PATH.name}: version {version}, {DEFAULT_MODEL_PATH.stat().st_size:,} bytes, "
          f"trained in {model.meta['train_seconds']} s on {model.meta['rows']} rows")


if __name__ == "__main__":
    main()
