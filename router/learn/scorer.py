"""A fast scorer for a fitted :class:`~router.learn.model.RouterModel`.

scikit-learn's ``transform`` + ``predict_proba`` spends most of its time on per-call
validation, on building three sparse blocks and stacking them, and on counting every
character n-gram of every word again. This scorer applies the same fitted parts
directly: the word and character vocabularies with their IDF weights (sublinear term
frequency, L2 norm per block, as ``TfidfVectorizer`` does), the category feature, the
linear weights and the calibration. The character n-grams of a word are looked up
once and cached (citizens' vocabulary repeats). Its probabilities equal the
scikit-learn pipeline's to within 1e-6 (tests/router/test_scorer.py).

Supported classifiers (what :func:`router.learn.model.fit` writes): a
``CalibratedClassifierCV`` with sigmoid calibration over a linear model
(``LinearSVC``, ``LogisticRegression``), or a plain ``LogisticRegression``.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import chain, pairwise
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import expit, softmax

#: Most distinct words whose character n-grams are kept (a few MB).
WORD_CACHE_MAX = 200_000
_INT_SIZE = array("i").itemsize


class UnsupportedModel(ValueError):
    """The model holds a classifier this scorer does not know how to apply."""


class SparseScorer:
    """Probabilities and reasons of a fitted model, without scikit-learn on the hot path."""

    def __init__(self, parts: dict[str, Any], category_weight: float) -> None:
        word, char, cat, clf = parts["word"], parts["char"], parts["cat"], parts["clf"]
        self.word_vocab: dict[str, int] = word.vocabulary_
        # Bigrams by their two words: looking up a pair of a text's tokens builds no string.
        self._bigrams = {tuple(term.split(" ")): col for term, col in self.word_vocab.items() if " " in term}
        self.char_vocab: dict[str, int] = char.vocabulary_
        self.cat_vocab: dict[str, int] = cat.vocabulary_
        self.word_idf = np.asarray(word.idf_, dtype=np.float64)
        self.char_idf = np.asarray(char.idf_, dtype=np.float64)
        self.n_word, self.n_char = len(self.word_idf), len(self.char_idf)
        self.char_range = char.ngram_range
        self.category_weight = category_weight
        self.classes = [str(c) for c in clf.classes_]
        self.members = [_member(c, self.n_word, self.n_char) for c in _members(clf)]
        self._char_cache: dict[str, bytes] = {}
        self._names: list[str] | None = None
        self._parts = parts

    # -- features -------------------------------------------------------------

    def _char_columns(self, word: str) -> bytes:
        """Columns of the in-vocabulary character n-grams of one word (``char_wb``), as the bytes
        of an ``array('i')``: a document's columns are then one ``bytes.join``, and a batch's one
        :func:`numpy.frombuffer`, instead of a Python int per n-gram to convert."""
        cols = self._char_cache.get(word)
        if cols is not None:
            return cols
        vocab = self.char_vocab
        w = " " + word + " "
        w_len = len(w)
        out = array("i")
        for n in range(self.char_range[0], self.char_range[1] + 1):
            offset = 0
            col = vocab.get(w[0:n])
            if col is not None:
                out.append(col)
            while offset + n < w_len:
                offset += 1
                col = vocab.get(w[offset:offset + n])
                if col is not None:
                    out.append(col)
            if offset == 0:  # a word shorter than n counts once (as scikit-learn does)
                break
        cols = out.tobytes()
        if len(self._char_cache) < WORD_CACHE_MAX:
            self._char_cache[word] = cols
        return cols

    def _word_columns(self, tokens: Sequence[str]) -> list[int]:
        cols = [c for c in map(self.word_vocab.get, tokens) if c is not None]
        cols += [c for c in map(self._bigrams.get, pairwise(tokens)) if c is not None]
        return cols

    def features(self, word_docs: Sequence[str], char_docs: Sequence[str],
                 category_tokens: Sequence[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix, list[int | None]]:
        """The word block, the character block and the category column of each document.

        The documents are those :func:`router.learn.model.word_text`/``char_text``/
        ``category_token`` make (what the vectorizers were fitted on); a character document
        may also be the text itself (its words, lower-cased and split on whitespace, are the same).
        """
        return self.features_of_tokens([doc.lower().split() for doc in word_docs], char_docs, category_tokens)

    def features_of_tokens(self, word_tokens: Sequence[Sequence[str]], char_docs: Sequence[str],
                           category_tokens: Sequence[str]
                           ) -> tuple[sparse.csr_matrix, sparse.csr_matrix, list[int | None]]:
        """:meth:`features` of word documents already split into their lower-case tokens (no
        token empty or holding whitespace: those of :meth:`router.textnorm.TextNormaliser.normalise`)."""
        word_rows = [self._word_columns(tokens) for tokens in word_tokens]
        word_cols = np.fromiter(chain.from_iterable(word_rows), dtype=np.intc)
        word_lengths = np.fromiter(map(len, word_rows), dtype=np.int64, count=len(word_rows))
        get, columns = self._char_cache.get, self._char_columns
        char_rows = []
        for doc in char_docs:
            words = doc.lower().split()  # as scikit-learn's char_wb: runs of whitespace end a word
            cached = [get(w) for w in words]
            if None in cached:
                cached = [columns(w) for w in words]
            char_rows.append(b"".join(cached))
        char_cols = np.frombuffer(b"".join(char_rows), dtype=np.intc)  # array("i") holds C ints
        char_lengths = np.fromiter(map(len, char_rows), dtype=np.int64, count=len(char_rows)) // _INT_SIZE
        cats = [self.cat_vocab.get(t) for t in category_tokens]
        return (_tfidf(word_cols, word_lengths, self.word_idf, self.n_word),
                _tfidf(char_cols, char_lengths, self.char_idf, self.n_char), cats)

    # -- scores ---------------------------------------------------------------

    def scores(self, xw: sparse.csr_matrix, xc: sparse.csr_matrix, cats: list[int | None]) -> np.ndarray:
        """Calibrated probabilities, one row per document, columns in :attr:`classes` order."""
        proba = np.mean([m.proba(self._decision(m, xw, xc, cats)) for m in self.members], axis=0)
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba

    def _decision(self, m: _Member, xw: sparse.csr_matrix, xc: sparse.csr_matrix,
                  cats: list[int | None]) -> np.ndarray:
        out = np.asarray(xw @ m.w_word) + np.asarray(xc @ m.w_char) + m.intercept
        for i, col in enumerate(cats):
            if col is not None:
                out[i] += self.category_weight * m.w_cat[col]
        return out

    def reasons(self, xw: sparse.csr_matrix, xc: sparse.csr_matrix, cats: list[int | None], classes: np.ndarray,
                k: int) -> list[list[str]]:
        """For each document ``i``, the ``k`` features that pushed most towards class ``classes[i]``
        (the largest contribution first; of equal ones, words before character n-grams before
        the category, each block in column order)."""
        m = self.members[0]
        names = self.feature_names()
        n = len(cats)
        w_rows = np.repeat(np.arange(n), np.diff(xw.indptr))
        c_rows = np.repeat(np.arange(n), np.diff(xc.indptr))
        k_rows = np.array([i for i, c in enumerate(cats) if c is not None], dtype=np.int64)
        k_cols = np.array([c for c in cats if c is not None], dtype=np.int64)
        rows = np.concatenate([w_rows, c_rows, k_rows])
        cols = np.concatenate([xw.indices, xc.indices + self.n_word, k_cols + self.n_word + self.n_char])
        if m.w_word.shape[1] == 1:  # binary: one weight column, for the second class
            column, sign = np.zeros_like(classes), np.where(classes == 1, 1.0, -1.0)
        else:
            column, sign = classes, np.ones(len(classes))
        contrib = np.concatenate([
            xw.data * _weights(m.w_word, xw.indices, column[w_rows]) * sign[w_rows],
            xc.data * _weights(m.w_char, xc.indices, column[c_rows]) * sign[c_rows],
            self.category_weight * _weights(m.w_cat, k_cols, column[k_rows]) * sign[k_rows]])
        keep = contrib > 0  # only what pushed towards the class is a reason
        out: list[list[str]] = [[] for _ in range(n)]
        for row, col in _top_per_row(rows[keep], cols[keep], contrib[keep], n, k):
            if names[col]:
                out[row].append(names[col])
        return out

    def feature_names(self) -> list[str]:
        """Readable name of every column: ``w:`` word n-gram, ``c:`` character n-gram, ``category:``."""
        if self._names is None:
            names = [""] * (self.n_word + self.n_char + len(self.cat_vocab))
            for term, col in self.word_vocab.items():
                names[col] = "w:" + term
            for term, col in self.char_vocab.items():
                names[self.n_word + col] = "c:" + term
            for term, col in self.cat_vocab.items():
                names[self.n_word + self.n_char + col] = "" if term == "cat__none" else "category:" + term[4:]
            self._names = names
        return self._names


class _Member:
    """One linear model and how its scores become probabilities."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, n_word: int, n_char: int, kind: str,
                 calibrators: list[tuple[int, float, float]] | None = None, n_classes: int = 0) -> None:
        w = np.ascontiguousarray(coef.T, dtype=np.float64)  # features x outputs: row gathers are contiguous
        self.w_word, self.w_char, self.w_cat = w[:n_word], w[n_word:n_word + n_char], w[n_word + n_char:]
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.kind = kind
        self.calibrators = calibrators or []
        self.n_classes = n_classes

    def proba(self, decision: np.ndarray) -> np.ndarray:
        if self.kind == "softmax":  # LogisticRegression, multinomial
            return softmax(decision, axis=1)
        if self.kind == "logistic-binary":
            p1 = expit(decision[:, 0])
            return np.column_stack([1.0 - p1, p1])
        proba = np.zeros((decision.shape[0], self.n_classes))
        for col, (cls, a, b) in enumerate(self.calibrators):
            proba[:, cls] = expit(-(a * decision[:, col] + b))
        if self.n_classes == 2:
            proba[:, 0] = 1.0 - proba[:, 1]
            return proba
        denominator = proba.sum(axis=1)[:, np.newaxis]
        return np.divide(proba, denominator, out=np.full_like(proba, 1 / self.n_classes), where=denominator != 0)


def _members(clf: Any) -> list[Any]:
    return list(getattr(clf, "calibrated_classifiers_", None) or [clf])


def _member(part: Any, n_word: int, n_char: int) -> _Member:
    """A :class:`_Member` for one calibrated classifier (or the plain classifier)."""
    if hasattr(part, "calibrators"):  # sklearn.calibration._CalibratedClassifier
        if part.method != "sigmoid":
            msg = f"calibration {part.method!r} is not supported"
            raise UnsupportedModel(msg)
        est = part.estimator
        n_classes = len(part.classes)
        positions = {str(c): i for i, c in enumerate(part.classes)}
        cls_idx = [positions[str(c)] for c in est.classes_]
        if n_classes == 2:
            cls_idx = [1]
        cal = [(i, float(c.a_), float(c.b_)) for i, c in zip(cls_idx, part.calibrators)]
        coef, intercept = _linear(est)
        return _Member(coef, intercept, n_word, n_char, "sigmoid", cal, n_classes)
    if type(part).__name__ != "LogisticRegression":
        msg = f"classifier {type(part).__name__} is not supported without calibration"
        raise UnsupportedModel(msg)
    coef, intercept = _linear(part)
    kind = "logistic-binary" if coef.shape[0] == 1 else "softmax"
    return _Member(coef, intercept, n_word, n_char, kind)


def _linear(est: Any) -> tuple[np.ndarray, np.ndarray]:
    if not hasattr(est, "coef_"):
        msg = f"classifier {type(est).__name__} has no linear weights"
        raise UnsupportedModel(msg)
    return np.asarray(est.coef_, dtype=np.float64), np.asarray(est.intercept_, dtype=np.float64).ravel()


def _tfidf(cols: np.ndarray, lengths: np.ndarray, idf: np.ndarray, n_cols: int) -> sparse.csr_matrix:
    """Sublinear TF-IDF, L2-normalised per row, of the columns of each row one after the other
    (``lengths[i]`` of them for row ``i``; a column may repeat)."""
    n = len(lengths)
    # (row, column) pairs as one key: np.unique sorts and counts them in one pass (int32 sorts
    # twice as fast as int64 and holds the keys of any batch the router makes).
    dtype = np.int32 if n * n_cols < 2**31 else np.int64
    keys = np.repeat(np.arange(n, dtype=dtype), lengths) * dtype(n_cols) + cols.astype(dtype, copy=False)
    keys, counts = np.unique(keys, return_counts=True)
    row_of, cols = np.divmod(keys, n_cols)
    data = (np.log(counts) + 1.0) * idf[cols]
    norms = np.sqrt(np.bincount(row_of, weights=data * data, minlength=n))
    norms[norms == 0] = 1.0
    data /= norms[row_of]
    indptr = np.searchsorted(row_of, np.arange(n + 1))
    return sparse.csr_matrix((data, cols, indptr), shape=(n, n_cols))


def _weights(w: np.ndarray, features: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """``w[features, outputs]`` as one gather from the flat array (several times faster than
    two-array indexing; the same values)."""
    return w.ravel().take(features * w.shape[1] + outputs)


def _top_per_row(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int,
                 k: int) -> list[tuple[int, int]]:
    """``(row, col)`` of the ``k`` largest positive ``values`` of each row, row by row, the largest
    first, the earlier position first among equal values.

    Picks each row's maximum ``k`` times (a few passes over the arrays) instead of sorting
    every value: a batch has thousands of candidates and keeps three per document.
    """
    if not len(values):
        return []
    by_row = np.argsort(rows, kind="stable")  # rows are sorted within each block: a merge
    rows, cols, values = rows[by_row], cols[by_row], values[by_row].copy()
    counts = np.bincount(rows, minlength=n)
    present = np.flatnonzero(counts)
    sizes = counts[present]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    segment = np.repeat(np.arange(len(present)), sizes)
    picks: list[np.ndarray] = []
    for _ in range(k):
        best = np.maximum.reduceat(values, starts)
        at = np.flatnonzero(values == best[segment])
        first = at[np.concatenate(([True], segment[at[1:]] != segment[at[:-1]]))]
        first = first[best[segment[first]] > 0]  # a row with fewer than k candidates is done
        if not len(first):
            break
        values[first] = 0.0
        picks.append(first)
    if not picks:
        return []
    chosen = np.concatenate(picks)
    order = np.argsort(rows[chosen], kind="stable")  # by row, each row's picks in the order taken
    chosen = chosen[order]
    return list(zip(rows[chosen].tolist(), cols[chosen].tolist(), strict=True))
