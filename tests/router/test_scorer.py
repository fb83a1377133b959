"""The fast scorer gives the scikit-learn pipeline's probabilities (issue 12, decisions/s)."""

from __future__ import annotations

import numpy as np
import pytest

from router.learn.default import DEFAULT_MODEL_PATH, DEVSET_DIR
from router.learn.model import fit, load_model
from router.learn.rows import read_rows, rows_from_records
from router.learn.synth import generate


@pytest.fixture(scope="module")
def dev_rows():
    return read_rows(DEVSET_DIR / "dev.csv")


def _scorer_proba(model, texts, categories) -> np.ndarray:
    return np.array([[dict(p.ranked).get(label, np.nan) for label in model.labels]
                     for p in model.predict(texts, categories, reasons=0)])


def test_scorer_equals_the_pipeline_on_the_dev_set(dev_rows):
    model = load_model(DEFAULT_MODEL_PATH)
    texts, cats = [r.text for r in dev_rows], [r.category for r in dev_rows]
    reference = model.predict_proba(texts, cats)
    preds = model.predict(texts, cats, reasons=0)
    assert [p.label for p in preds] == [model.labels[i] for i in reference.argmax(axis=1)]
    top = np.array([p.probability for p in preds])
    assert np.abs(top - reference.max(axis=1)).max() < 1e-6
    xw, xc, k = model.scorer.features(*model_docs(texts, cats))
    assert np.abs(model.scorer.scores(xw, xc, k) - reference).max() < 1e-6


def model_docs(texts, cats):
    from router.learn.model import category_token, char_text, word_text

    return ([word_text(t) for t in texts], [char_text(t) for t in texts],
            [category_token(c) or "cat__none" for c in cats])


@pytest.mark.parametrize("agencies", [2, 0])
def test_scorer_equals_the_pipeline_on_a_fresh_model(agencies):
    records = list(generate(300, seed=7))
    if agencies:  # the binary case has its own calibration shape
        keep = sorted({r["agency"] for r in records})[:agencies]
        records = [r for r in records if r["agency"] in keep]
    model = fit(rows_from_records(records))
    held = list(generate(80, seed=8, part="holdout"))
    texts, cats = [r["text"] for r in held], [r["category"] or None for r in held]
    xw, xc, k = model.scorer.features(*model_docs(texts, cats))
    assert np.abs(model.scorer.scores(xw, xc, k) - model.predict_proba(texts, cats)).max() < 1e-6


def test_reasons_are_features_of_the_text_pushing_towards_the_label():
    model = load_model(DEFAULT_MODEL_PATH)
    (pred,) = model.predict(["lampu jalan mati total dpn sekolah, gelap bgt kalo malem"], [None])
    assert pred.reasons and len(pred.reasons) <= 3
    assert all(r.startswith(("w:", "c:", "category:")) for r in pred.reasons)
    words = [r[2:] for r in pred.reasons if r.startswith("w:")]
    assert all(w.split()[0] in "lampu jalan mati total depan sekolah gelap banget kalo malam" for w in words)


def test_reasons_of_a_two_agency_model_point_to_each_side():
    rows = [{"text": f"jalan rusak parah nomor {i}", "agency": "binamarga", "category": "", "kelurahan": ""}
            for i in range(12)]
    rows += [{"text": f"anjing liar galak nomor {i}", "agency": "dkpkp", "category": "", "kelurahan": ""}
             for i in range(12)]
    model = fit(rows_from_records(rows))
    road, dog = model.predict(["jalan rusak parah di gang", "anjing liar galak di gang"], [None, None])
    assert (road.label, dog.label) == ("binamarga", "dkpkp")
    assert "w:jalan" in road.reasons and "w:anjing" in dog.reasons


def test_a_split_shared_with_the_rules_gives_the_same_predictions(dev_rows):
    """The router splits each text once for the rules and the model (router.textnorm.raw_tokens);
    the model's answers, reasons included, are those of its own split."""
    from router.textnorm import TextNormaliser, raw_tokens

    model = load_model(DEFAULT_MODEL_PATH)
    texts, cats = [r.text for r in dev_rows[:300]], [r.category for r in dev_rows[:300]]
    shared = model.predict(texts, cats, raw=[raw_tokens(t) for t in texts])
    assert shared == model.predict(texts, cats)
    rules_normaliser = TextNormaliser({"jlnan": "jalan"})
    assert all(rules_normaliser.normalise(raw_tokens(t)) == rules_normaliser.tokens(t) for t in texts)


def test_top_per_row_is_a_stable_sort_by_value_within_each_row():
    """The reasons' top-k selection equals sorting each row's candidates by value, largest first,
    the earlier position first among equal values (ties are common with integer weights)."""
    from router.learn.scorer import _top_per_row

    rng = np.random.default_rng(3)
    for _ in range(200):
        n, size = 6, int(rng.integers(0, 40))
        rows = np.sort(rng.integers(0, n, size))
        rows = np.concatenate([rows, np.sort(rng.integers(0, n, size // 2))])  # two blocks, as in reasons
        cols = np.arange(len(rows))
        values = rng.integers(1, 4, len(rows)).astype(float)
        k = int(rng.integers(1, 5))
        expected = []
        for row in range(n):
            mine = sorted((i for i in range(len(rows)) if rows[i] == row), key=lambda i: -values[i])[:k]
            expected += [(row, int(cols[i])) for i in mine]
        assert _top_per_row(rows, cols, values, n, k) == expected


def test_texts_give_the_character_features_of_char_text(dev_rows):
    """RouterModel.predict hands the scorer the texts themselves as character documents."""
    model = load_model(DEFAULT_MODEL_PATH)
    texts = [r.text for r in dev_rows] + ["  Jalan\t\tRUSAK\n\n parah\u00a0sekali \u2003 ", "", " \n "]
    words, chars, cats = model_docs(texts, [None] * len(texts))
    assert chars != texts
    _, from_chars, _ = model.scorer.features(words, chars, cats)
    _, from_texts, _ = model.scorer.features(words, texts, cats)
    assert (from_chars != from_texts).nnz == 0


def test_tokens_give_the_word_features_of_word_text(dev_rows):
    """RouterModel.predict hands the scorer the normalised tokens, not the text word_text joins."""
    from router.learn.model import word_tokens

    model = load_model(DEFAULT_MODEL_PATH)
    texts = [r.text for r in dev_rows] + ["JALAN Rusak  gak   ditambal2 bgt!!", "", "ÉÇ ünïcode 漢字"]
    words, chars, cats = model_docs(texts, [None] * len(texts))
    from_text, _, _ = model.scorer.features(words, chars, cats)
    from_tokens, _, _ = model.scorer.features_of_tokens([word_tokens(t) for t in texts], chars, cats)
    assert (from_text != from_tokens).nnz == 0
