"""Figures of the learned router (issue 12): cross-validated accuracy on the shipped dev
set next to the rules alone on the same rows, held-out accuracy, decisions/s on one
core with the model (scikit-learn pipeline before, sparse scorer after, same run; and the
whole routing decision next to the rules alone), training time for 50,000 generated
rows, model size.

Run: ``.venv/bin/python benchmarks/learn_router.py [--train-rows 50000]``.

``--compare REV`` (e.g. ``main``) also times the whole routing decision with the model of
git revision REV, alternating with this tree in fresh processes, and prints both: a
before/after of one sitting, as noisy as the machine, so read several rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from config.models import TopologyConfig
from router.engine import Router
from router.learn.default import DEFAULT_MODEL_PATH, DEVSET_DIR, EVAL_DIR, read_eval_rows
from router.learn.evaluate import accuracy, cross_validate, score_model
from router.learn.model import Prediction, fit, load_model
from router.learn.routed_eval import route_rows
from router.learn.rows import LabelMap, read_rows, rows_from_records
from router.learn.synth import generate
from router.rules import load_rules
from tests.router.helpers import make_complaint


def rules_accuracy(rows) -> float:
    """Agency accuracy of the rules alone (no model) on ``rows`` (an ``inspektorat`` row is
    right when the Inspektorat gets the complaint or its integrity copy)."""
    router = Router(load_rules(), TopologyConfig())
    return sum(router.route(make_complaint(r.text, hint=r.category or None)).reaches(r.agency)
               for r in rows) / len(rows)


def routed_outcomes(rows, model) -> str:
    """How the whole router (rules plus ``model``, or the rules alone for None) routes ``rows``,
    as ``kanal router eval --routed`` counts it: the shares sent to the right agency (for
    ``inspektorat``: or its integrity copy), to triage and to a wrong agency."""
    rules = load_rules()
    router = Router(rules, TopologyConfig(), model=model)
    return route_rows(router, rows, LabelMap(rules.agencies)).line()


def per_second(run, items, batch: int = 100) -> float:
    """Items per second of ``run`` over ``items`` in batches (after one warm-up batch)."""
    run(items[:batch])
    t0 = time.perf_counter()
    for i in range(0, len(items), batch):
        run(items[i:i + batch])
    return len(items) / (time.perf_counter() - t0)


class PipelinePredictor:
    """The model's answers the way they were computed before the sparse scorer: scikit-learn's
    transform and predict_proba, reasons from the stacked feature matrix (for the before figure)."""

    def __init__(self, model) -> None:
        from router.learn.scorer import SparseScorer

        self.model = model
        scorer = SparseScorer(model.parts, 1.0)
        m = scorer.members[0]
        self.coef = np.vstack([m.w_word, m.w_char, m.w_cat]).T
        self.names = np.array(scorer.feature_names())

    def predict(self, texts, categories):
        x = self.model.features(texts, categories)
        proba = self.model.parts["clf"].predict_proba(x)
        labels = self.model.labels
        out = []
        for i, row in enumerate(proba):
            order = np.argsort(row)[::-1][:3]
            best = int(order[0])
            start, end = x.indptr[i], x.indptr[i + 1]
            idx, vals = x.indices[start:end], x.data[start:end]
            contrib = vals * self.coef[best, idx]
            top = np.argsort(contrib)[::-1][:3]
            reasons = [str(self.names[idx[j]]) for j in top if contrib[j] > 0 and self.names[idx[j]]]
            out.append(Prediction(labels[best], float(row[best]), [(labels[j], float(row[j])) for j in order],
                                  reasons))
        return out


def speed(model, dev) -> None:
    """Decisions per second, before and after the sparse scorer, in one run."""
    complaints = [make_complaint(r.text) for r in (dev * 3)[:5000]]
    texts = [c.description for c in complaints]
    pipeline = PipelinePredictor(model)
    model_before = per_second(lambda b: pipeline.predict(b, [None] * len(b)), texts)
    model_after = per_second(lambda b: model.predict(b, [None] * len(b)), texts)
    print(f"one core, batches of 100: model decisions {model_before:,.0f}/s with the scikit-learn pipeline "
          f"(before), {model_after:,.0f}/s with the sparse scorer (after)")
    rules = load_rules()

    def route_with(model, predict):
        router = Router(rules, TopologyConfig(), model=model)  # its own duplicate index, same size for each
        predict = predict or router.predict

        def run(batch):
            router.route_many(batch, predict(batch))  # as the consumer does, one call per batch
        return run

    warm = Router(rules, TopologyConfig(), model=model)  # the stemmer's and tokenisers' caches, for every run
    for i in range(0, len(complaints), 100):
        warm.route_many(complaints[i:i + 100], warm.predict(complaints[i:i + 100]))

    def via_pipeline(batch):
        return pipeline.predict([c.description for c in batch], [None] * len(batch))

    best: dict[str, float] = {"rules": 0.0, "pipeline": 0.0, "scorer": 0.0}
    for _ in range(3):  # alternating, best of each: one pass can lose a tenth to a full garbage collection
        best["rules"] = max(best["rules"], per_second(route_with(None, None), complaints))
        best["pipeline"] = max(best["pipeline"], per_second(route_with(model, via_pipeline), complaints))
        best["scorer"] = max(best["scorer"], per_second(route_with(model, None), complaints))
    print(f"whole routing decision (route_many, batches of 100, caches warm, best of 3): rules alone "
          f"{best['rules']:,.0f}/s; with the model {best['pipeline']:,.0f}/s through the pipeline, "
          f"{best['scorer']:,.0f}/s through the scorer (model/rules {best['scorer'] / best['rules']:.2f})")


#: Times the whole routing decision with the model of the tree given as argv[1], using only
#: what every revision since the sparse scorer has (so an older checkout runs it too).
WHOLE_DECISION = """
import sys, time
sys.path.insert(0, sys.argv[1])
from config.models import TopologyConfig
from router.engine import Router
from router.learn.default import DEFAULT_MODEL_PATH, DEVSET_DIR
from router.learn.model import load_model
from router.learn.rows import read_rows
from router.rules import load_rules
from tests.router.helpers import make_complaint
import router
assert router.__file__.startswith(sys.argv[1]), router.__file__
complaints = [make_complaint(r.text) for r in (read_rows(DEVSET_DIR / "dev.csv") * 3)[:5000]]
model, rules = load_model(DEFAULT_MODEL_PATH), load_rules()
def run(router):
    for i in range(0, len(complaints), 100):
        router.route_many(complaints[i:i + 100], router.predict(complaints[i:i + 100]))
run(Router(rules, TopologyConfig(), model=model))  # the caches warm, as in speed()
best = 0.0
for _ in range(3):
    router = Router(rules, TopologyConfig(), model=model)
    t0 = time.perf_counter()
    run(router)
    best = max(best, len(complaints) / (time.perf_counter() - t0))
print(best)
"""


def compare(revision: str, rounds: int) -> None:
    """The whole routing decision with the model, ``revision`` against this tree, alternating."""
    here = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(here), "archive", revision], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        trees = {f"{revision} (before)": tmp, "this tree (after)": str(here)}
        figures: dict[str, list[float]] = {name: [] for name in trees}
        load = os.getloadavg()[0]
        for _ in range(rounds):
            for name, tree in trees.items():
                out = subprocess.run([sys.executable, "-c", WHOLE_DECISION, tree], check=True, capture_output=True,
                                     text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
                figures[name].append(float(out.stdout.split()[-1]))
        print(f"whole routing decision with the model, {rounds} alternating rounds (best of 3 passes over 5,000 "
              f"complaints each), load average {load:.2f} -> {os.getloadavg()[0]:.2f}:")
        for name, values in figures.items():
            print(f"  {name}: best {max(values):,.0f}/s, median {statistics.median(values):,.0f}/s "
                  f"({', '.join(f'{v:,.0f}' for v in values)})")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--speed-only", action="store_true", help="only the decisions/s figures")
    parser.add_argument("--compare", metavar="REV", help="also time the whole decision of git revision REV")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of --compare")
    args = parser.parse_args()
    dev, hold = read_rows(DEVSET_DIR / "dev.csv"), read_rows(DEVSET_DIR / "holdout.csv")
    model = load_model(DEFAULT_MODEL_PATH)
    speed(model, dev)
    if args.compare:
        compare(args.compare, args.rounds)
    if args.speed_only:
        return
    print(f"dev set {len(dev)} rows: 5-fold CV accuracy {accuracy(cross_validate(dev, 5)):.3f}, "
          f"rules alone {rules_accuracy(dev):.3f}")
    print(f"held-out {len(hold)} rows: default model {accuracy(score_model(model, hold)):.3f}, "
          f"rules alone {rules_accuracy(hold):.3f}")
    hand = read_eval_rows(EVAL_DIR / "holdout.tsv")
    print(f"hand-written held-out (router/eval/holdout.tsv, {len(hand)} rows), routed at the default threshold: "
          f"default model: {routed_outcomes(hand, model)}; rules alone: {routed_outcomes(hand, None)}")
    print(f"generated held-out, routed the same way: default model: {routed_outcomes(hold, model)}; "
          f"rules alone: {routed_outcomes(hold, None)}")
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
