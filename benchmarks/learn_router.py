"""Figures of the learned router (issue 12): cross-validated accuracy on the shipped dev
set next to the rules alone on the same rows, held-out accuracy, decisions/s on one
core with the model, training time for 50,000 generated rows, model size.

Run: ``.venv/bin/python benchmarks/learn_router.py [--train-rows 50000]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.models import TopologyConfig
from router.engine import Router
from router.learn.default import DEFAULT_MODEL_PATH, DEVSET_DIR
from router.learn.evaluate import accuracy, cross_validate, score_model
from router.learn.model import fit, load_model
from router.learn.rows import read_rows, rows_from_records
from router.learn.synth import generate
from router.rules import load_rules
from tests.router.helpers import make_complaint


def rules_accuracy(rows) -> float:
    """Agency accuracy of the rules alone (no model) on ``rows``."""
    router = Router(load_rules(), TopologyConfig())
    return sum(router.route(make_complaint(r.text, hint=r.category or None)).agency_code == r.agency
               for r in rows) / len(rows)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-rows", type=int, default=50_000)
    args = parser.parse_args()
    dev, hold = read_rows(DEVSET_DIR / "dev.csv"), read_rows(DEVSET_DIR / "holdout.csv")
    print(f"dev set {len(dev)} rows: 5-fold CV accuracy {accuracy(cross_validate(dev, 5)):.3f}, "
          f"rules alone {rules_accuracy(dev):.3f}")
    model = load_model(DEFAULT_MODEL_PATH)
    print(f"held-out {len(hold)} rows: default model {accuracy(score_model(model, hold)):.3f}, "
          f"rules alone {rules_accuracy(hold):.3f}")
    router = Router(load_rules(), TopologyConfig(), model=model)
    complaints = [make_complaint(r.text) for r in (dev * 3)[:5000]]
    router.predict(complaints[:200])
    t0 = time.perf_counter()
    for i in range(0, len(complaints), 100):
        model.predict([c.description for c in complaints[i:i + 100]], [None] * 100, reasons=3)
    model_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(0, len(complaints), 100):
        batch = complaints[i:i + 100]
        for c, p in zip(batch, router.predict(batch)):
            router.route(c, p)
    route_s = time.perf_counter() - t0
    print(f"one core, batches of 100: model decisions {len(complaints) / model_s:,.0f}/s, "
          f"whole routing decision with the model {len(complaints) / route_s:,.0f}/s")
    big = rows_from_records(generate(args.train_rows, seed=50))
    t0 = time.perf_counter()
    trained = fit(big)
    train_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.skops"
        trained.save(path)
        size = path.stat().st_size
    print(f"training on {len(big):,} rows: {train_s:.1f} s, model file {size / 1e6:.1f} MB "
          f"(default model {DEFAULT_MODEL_PATH.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
