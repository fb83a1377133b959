"""The learned router model: features, training, prediction with reasons, the model file.

Features: word unigrams and bigrams of the normalised text (slang table and stemming of
router/textnorm.py, so "gak"/"ga"/"tidak" are one word), character n-grams of the
lower-cased raw text within word boundaries (3–5) (robust to typos and abbreviations:
"jln"/"jalan", "bgt", "lobang"/"lubang" share most of their n-grams), both TF-IDF with
sublinear term frequency, and the citizen's category as one binary feature. Classifier:
a linear SVM (LinearSVC, dual solver) whose scores are turned into probabilities by sigmoid
calibration on 3 internal folds (CalibratedClassifierCV, ensemble=False: one SVM on all
rows, so the file holds one weight matrix). Why these: see docs/router.md.

The model file is a skops file (no pickle: loading checks every type against a fixed
allow-list) holding the fitted parts and metadata; its version is the first 12 hex
digits of the file's SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from router.learn.landmarks import learn_landmarks
from router.learn.rows import Row, label_key
from router.textnorm import TextNormaliser

FORMAT = "kanal-router-model/1"
#: The types a model file may contain besides skops' own safe defaults.
TRUSTED_TYPES = [
    "sklearn.calibration.CalibratedClassifierCV", "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration", "sklearn.svm._classes.LinearSVC",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.feature_extraction.text.TfidfVectorizer", "sklearn.feature_extraction.text.CountVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer", "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.preprocessing._label.LabelEncoder", "sklearn.svm._classes.LinearSVC",
    "numpy.float64", "numpy.int64", "numpy.dtype", "numpy.ndarray", "builtins.slice",
    "scipy.sparse._csr.csr_matrix", "sklearn.utils._bunch.Bunch",
]
if TYPE_CHECKING:
    from router.learn.scorer import SparseScorer

_SPACE = re.compile(r"\s+")


class ModelError(ValueError):
    """The model file is missing, unreadable, of another format, or holds untrusted types."""


@dataclass(frozen=True, slots=True)
class TrainParams:
    """Training knobs (defaults are the shipped choice, see docs/router.md)."""

    word_max_features: int = 40_000
    char_max_features: int = 60_000
    category_weight: float = 1.0
    c: float = 0.1
    min_df: int = 2


@dataclass(slots=True)
class Prediction:
    """The model's answer for one complaint."""

    label: str
    probability: float
    ranked: list[tuple[str, float]]
    reasons: list[str] = field(default_factory=list)


_NORMALISER = TextNormaliser()


def word_tokens(text: str, raw: list[str] | None = None) -> tuple[str, ...]:
    """The tokens :func:`word_text` joins (lower case, none empty or holding whitespace)."""
    return _NORMALISER.tokens(text) if raw is None else _NORMALISER.normalise(raw)


def word_text(text: str, raw: list[str] | None = None) -> str:
    """Input of the word features: normalised, stemmed tokens (``raw``: the text's
    :func:`router.textnorm.raw_tokens` when the caller has them)."""
    return " ".join(word_tokens(text, raw))


def char_text(text: str) -> str:
    """Input of the character features: lower case, whitespace squeezed."""
    return _SPACE.sub(" ", text.lower()).strip()


def category_token(category: str | None) -> str:
    """The category feature: one token per normalised category string (empty: none)."""
    key = label_key(category or "")
    return "cat_" + re.sub(r"[^a-z0-9]+", "_", key).strip("_") if key else ""


class RouterModel:
    """A fitted model plus its metadata (see the module docstring)."""

    def __init__(self, parts: dict[str, Any], meta: dict[str, Any], version: str = "unsaved") -> None:
        self.parts = parts
        self.meta = meta
        self.version = version
        self._scorer: SparseScorer | None = None

    @property
    def labels(self) -> list[str]:
        """The labels the model can predict, as in the training data."""
        return [str(x) for x in self.parts["clf"].classes_]

    @property
    def trained_at(self) -> str:
        """UTC time of training, ISO 8601."""
        return str(self.meta.get("trained_at", ""))

    @property
    def landmarks(self) -> dict[str, str]:
        """Learned street/landmark phrase -> kelurahan name (do not modify: shared, read on every decision)."""
        return self.meta.setdefault("landmarks", {})

    def features(self, texts: Sequence[str], categories: Sequence[str | None]) -> sparse.csr_matrix:
        """The feature matrix of complaints."""
        p = self.parts
        blocks = [p["word"].transform([word_text(t) for t in texts]),
                  p["char"].transform([char_text(t) for t in texts])]
        cats = p["cat"].transform([category_token(c) or "cat__none" for c in categories])
        blocks.append(cats * float(self.meta.get("params", {}).get("category_weight", 1.0)))
        return sparse.hstack(blocks, format="csr")

    def predict_proba(self, texts: Sequence[str], categories: Sequence[str | None]) -> np.ndarray:
        """Calibrated probabilities by the scikit-learn pipeline itself, one row per complaint, columns
        in :attr:`labels` order (the reference :attr:`scorer` is checked against)."""
        return self.parts["clf"].predict_proba(self.features(texts, categories))

    @property
    def scorer(self) -> SparseScorer:
        """The fast scorer of this model (built on first use)."""
        if self._scorer is None:
            from router.learn.scorer import SparseScorer

            self._scorer = SparseScorer(self.parts, float(self.meta.get("params", {}).get("category_weight", 1.0)))
        return self._scorer

    def predict(self, texts: Sequence[str], categories: Sequence[str | None], reasons: int = 3,
                raw: Sequence[list[str]] | None = None) -> list[Prediction]:
        """Predict the label of each complaint, with the top contributing features as reasons.

        Uses :attr:`scorer` (same probabilities as :meth:`predict_proba`, several times faster).
        ``raw``: each text's :func:`router.textnorm.raw_tokens`, when the caller split them already.
        """
        scorer = self.scorer
        words = [word_tokens(t, r) for t, r in zip(texts, raw or [None] * len(texts))]
        # The texts themselves as character documents: char_text only lower-cases and squeezes
        # whitespace, and the scorer does the one and splits on whitespace anyway.
        xw, xc, cats = scorer.features_of_tokens(words, texts, [category_token(c) or "cat__none" for c in categories])
        proba = scorer.scores(xw, xc, cats)
        labels = scorer.classes
        order = np.argsort(-proba, axis=1, kind="stable")[:, :3]
        why = scorer.reasons(xw, xc, cats, order[:, 0], reasons) if reasons else [[] for _ in texts]
        out = []
        for row, top, because in zip(proba.tolist(), order.tolist(), why):
            out.append(Prediction(labels[top[0]], row[top[0]], [(labels[j], row[j]) for j in top], because))
        return out

    def save(self, path: Path) -> str:
        """Write the model file; returns (and sets) its version."""
        import skops.io as sio

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        sio.dump({"format": FORMAT, "meta": self.meta, **self.parts}, tmp, compression=8)
        tmp.replace(path)  # a router reloading on SIGHUP never sees half a file
        self.version = file_version(path)
        return self.version


def file_version(path: Path) -> str:
    """The version of a model file: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def load_model(path: Path) -> RouterModel:
    """Load a model file, refusing any type outside :data:`TRUSTED_TYPES`.

    Raises:
        ModelError: missing, unreadable, untrusted or of another format.
    """
    import skops.io as sio

    try:
        untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES)
        if untrusted:
            msg = f"model file {path} holds types Kanal does not load: {', '.join(sorted(untrusted))}"
            raise ModelError(msg)
        doc = sio.load(path, trusted=TRUSTED_TYPES)
    except ModelError:
        raise
    except Exception as exc:
        msg = f"cannot load model file {path}: {type(exc).__name__}: {exc}"
        raise ModelError(msg) from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        msg = f"{path} is not a Kanal router model ({FORMAT})"
        raise ModelError(msg)
    parts = {k: doc[k] for k in ("word", "char", "cat", "clf")}
    return RouterModel(parts, doc["meta"], file_version(path))


def fit(rows: Sequence[Row], params: TrainParams | None = None) -> RouterModel:
    """Train a model on ``rows`` (labels as given; mapping to agencies happens when routing)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.svm import LinearSVC

    params = params or TrainParams()
    started = time.perf_counter()
    labels = np.array([r.agency for r in rows])
    weights = np.array([r.weight for r in rows], dtype=np.float64)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        msg = "training needs at least two different agencies in the rows"
        raise ValueError(msg)
    min_df = params.min_df if len(rows) >= 1000 else 1  # a small set has few repeated n-grams
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df,
                           max_features=params.word_max_features, token_pattern=r"\S+", dtype=np.float32)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=min_df,
                           max_features=params.char_max_features, dtype=np.float32)
    cat = CountVectorizer(token_pattern=r"\S+", binary=True, lowercase=False, dtype=np.float32)
    texts = [r.text for r in rows]
    xw = word.fit_transform([word_text(t) for t in texts])
    xc = char.fit_transform([char_text(t) for t in texts])
    xk = cat.fit_transform([category_token(r.category) or "cat__none" for r in rows]) * params.category_weight
    x = sparse.hstack([xw, xc, xk], format="csr")
    folds = int(min(3, counts.min()))
    # The dual solver: with more rows than features dual="auto" picks the primal one, which took
    # ten times longer on 50,000 rows for the same weights (docs/router.md, model choice).
    svm = LinearSVC(C=params.c, dual=True, max_iter=5000, random_state=0)
    if folds >= 2:
        clf = CalibratedClassifierCV(svm, method="sigmoid", cv=folds, ensemble=False)
    else:  # a label seen once cannot be calibrated by cross-validation
        clf = CalibratedClassifierCV(svm, method="sigmoid", cv=2, ensemble=False)
        keep = np.isin(labels, classes[counts >= 2])
        x, labels, weights = x[keep], labels[keep], weights[keep]
    clf.fit(x, labels, sample_weight=weights)
    meta = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "rows": len(rows), "labels": {str(c): int(n) for c, n in zip(classes, counts)},
        "params": {"category_weight": params.category_weight, "c": params.c,
                   "word_max_features": params.word_max_features, "char_max_features": params.char_max_features},
        "landmarks": learn_landmarks(rows), "train_seconds": round(time.perf_counter() - started, 2),
    }
    return RouterModel({"word": word, "char": char, "cat": cat, "clf": clf}, meta)
