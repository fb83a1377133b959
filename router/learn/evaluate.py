"""Evaluation: stratified k-fold cross-validation grouped by text, or a trained model on
a held-out file, and the report ``kanal router eval`` prints.

Identical texts (after lower-casing and squeezing spaces) form one group, so a report
repeated in the history is never in the training and the test part at once. The
report's last line is exactly ``accuracy 0.XXX``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from router.learn.model import RouterModel, TrainParams, fit
from router.learn.rows import Row

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(slots=True)
class Scored:
    """Predictions for rows: the label each row has, the label predicted, its probability."""

    rows: list[Row]
    predicted: list[str]
    probability: list[float]
    extra: dict[str, float] = field(default_factory=dict)


def group_key(text: str) -> str:
    """Rows with the same key are the same report."""
    return " ".join(text.lower().split())


def cross_validate(rows: Sequence[Row], folds: int = 5, seed: int = 12, params: TrainParams | None = None) -> Scored:
    """Out-of-fold predictions of a model trained on the other folds (grouped, stratified)."""
    from sklearn.model_selection import StratifiedGroupKFold

    rows = list(rows)
    labels = np.array([r.agency for r in rows])
    ids: dict[str, int] = {}
    groups = np.array([ids.setdefault(group_key(r.text), len(ids)) for r in rows])
    smallest = min(Counter(labels.tolist()).values())
    k = max(2, min(folds, smallest))
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    predicted = [""] * len(rows)
    probability = [0.0] * len(rows)
    for train_idx, test_idx in splitter.split(np.zeros(len(rows)), labels, groups):
        model = fit([rows[i] for i in train_idx], params)
        preds = model.predict([rows[i].text for i in test_idx], [rows[i].category for i in test_idx], reasons=0)
        for i, p in zip(test_idx, preds):
            predicted[i], probability[i] = p.label, p.probability
    return Scored(rows, predicted, probability, {"folds": k})


def score_model(model: RouterModel, rows: Sequence[Row]) -> Scored:
    """Predictions of a trained model on (held-out) rows."""
    rows = list(rows)
    preds = model.predict([r.text for r in rows], [r.category for r in rows], reasons=0)
    return Scored(rows, [p.label for p in preds], [p.probability for p in preds])


def accuracy(scored: Scored) -> float:
    """Share of rows whose predicted label is their label."""
    return sum(p == r.agency for p, r in zip(scored.predicted, scored.rows)) / max(1, len(scored.rows))


def report(scored: Scored, title: str, out: Callable[[str], None] = print, examples: int = 2) -> float:
    """Print the evaluation report (see the module docstring); returns the accuracy."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    truth = [r.agency for r in scored.rows]
    labels = sorted(set(truth) | set(scored.predicted))
    acc = accuracy(scored)
    macro = f1_score(truth, scored.predicted, labels=labels, average="macro", zero_division=0)
    prec, rec, _f1, support = precision_recall_fscore_support(truth, scored.predicted, labels=labels, zero_division=0)
    out(f"{title}: {len(truth)} rows, {len(set(truth))} agencies")
    out(f"overall accuracy {acc:.3f}   macro-F1 {macro:.3f}")
    out("")
    out(f"{'agency':<28} {'n':>6} {'precision':>10} {'recall':>8}")
    for lb, p, r, n in zip(labels, prec, rec, support):
        out(f"{lb[:28]:<28} {n:>6} {p:>10.3f} {r:>8.3f}")
    confusions = Counter((t, p) for t, p in zip(truth, scored.predicted) if t != p)
    if confusions:
        out("")
        out("top confusions (label -> predicted: count, examples)")
        for (t, p), n in confusions.most_common(8):
            out(f"  {t} -> {p}: {n}")
            shown = [r.text for r, q in zip(scored.rows, scored.predicted) if r.agency == t and q == p][:examples]
            for text in shown:
                out(f"      \"{' '.join(text.split())[:110]}\"")
    out("")
    out("confidence threshold: accuracy of the rows dispatched, share sent to triage")
    probs = np.array(scored.probability)
    right = np.array([p == t for p, t in zip(scored.predicted, truth)])
    for th in THRESHOLDS:
        kept = probs >= th
        kept_acc = right[kept].mean() if kept.any() else float("nan")
        out(f"  >= {th:.2f}   accuracy {kept_acc:.3f}   triage {1 - kept.mean():.3f}")
    out(f"accuracy {acc:.3f}")
    return acc
