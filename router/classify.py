"""Complaint text -> category (``service_code``) -> agency, with a confidence.

Scoring: each term of a category that appears in the normalised text adds its weight
once; an ``exclude`` phrase removes the category; a channel category hint that maps to
a category adds ``hint_weight`` (considered, never trusted alone). The best category
wins when its score reaches ``min_score`` and its confidence reaches
``min_confidence``; otherwise the complaint is for triage.

Confidence = share × certainty, where share = best / (best + runner-up from another
agency) and certainty = min(1, best / strong_score). Two categories of the same
agency do not compete: "got mampet, sampah numpuk" is clearly a kelurahan matter.

Categories of a confidential agency (the Inspektorat's pungli) never compete either: a
passing mention of pungli must not take the complaint away from the agency that must
act. When one reaches ``min_score`` the classification is flagged ``integrity``; when
nothing else scores, it is the decision.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from router.rules import Rules, hint_key


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classifier decided and why."""

    category: str | None
    agency: str | None
    confidence: float
    score: float
    matched: tuple[str, ...]
    also: tuple[str, ...] = ()
    hint_used: bool = False
    urgent: bool = False
    #: A confidential agency's category (pungli) also reached ``min_score``: an integrity matter.
    integrity: bool = False

    @property
    def triage(self) -> bool:
        """True when no category is trusted enough: a person must decide."""
        return self.category is None


class Classifier:
    """Classifies complaint text with compiled :class:`~router.rules.Rules`."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._first: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        #: What finding a phrase adds: (category, weight, matched-rule label, every phrase the term
        #: needs or ()). A term of several phrases (``&``) is listed under its first one only, so
        #: it counts once without remembering which terms were counted.
        self._hits: dict[tuple[str, ...], list[tuple[str, float, str, tuple[tuple[str, ...], ...]]]] = {}
        self._exclusions: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for cat in rules.categories.values():
            for term in cat.terms:
                for phrase in term.all_of or (term.phrase,):
                    self._add_phrase(phrase)
                hit = (term.category, term.weight, f"{term.category}:{term.source}", term.all_of)
                self._hits.setdefault(term.all_of[0] if term.all_of else term.phrase, []).append(hit)
            for phrase in cat.exclude:
                self._add_phrase(phrase)
                self._exclusions[phrase].append(cat.code)
            for phrase in cat.urgent_when:
                self._add_phrase(phrase)
        self._agency = {code: cat.agency for code, cat in rules.categories.items()}
        self._integrity = frozenset(code for code, cat in rules.categories.items()
                                    if rules.agencies[cat.agency].confidential)

    def _add_phrase(self, phrase: tuple[str, ...]) -> None:
        if phrase not in self._first[phrase[0]]:
            self._first[phrase[0]].append(phrase)

    def found_phrases(self, tokens: tuple[str, ...]) -> set[tuple[str, ...]]:
        """Every known phrase that occurs in ``tokens``."""
        found: set[tuple[str, ...]] = set()
        first = self._first
        for i, token in enumerate(tokens):
            for phrase in first.get(token, ()):
                if len(phrase) == 1 or tokens[i : i + len(phrase)] == phrase:
                    found.add(phrase)
        return found

    def classify(self, text: str, hint: str | None = None, tokens: tuple[str, ...] | None = None) -> Classification:
        """Classify ``text``; ``hint`` is the channel's own category string, if any; ``tokens``: the
        text's normalised tokens when the caller has them already."""
        found = self.found_phrases(self.rules.normaliser.tokens(text) if tokens is None else tokens)
        th = self.rules.thresholds
        scores: dict[str, float] = {}
        matched: dict[str, list[str]] = {}
        excluded: set[str] = set()
        for phrase in found:
            for category, weight, label, all_of in self._hits.get(phrase, ()):
                if all_of and not all(p in found for p in all_of):
                    continue
                scores[category] = scores.get(category, 0.0) + weight
                matched.setdefault(category, []).append(label)
            if phrase in self._exclusions:
                excluded.update(self._exclusions[phrase])
        hint_cat = self.rules.hints.get(hint_key(hint)) if hint else None
        if hint_cat and scores.get(hint_cat, 0) > 0:
            scores[hint_cat] += th.hint_weight
            matched[hint_cat].append(f"{hint_cat}:hint:{hint_key(hint or '')}")
        integrity_cats = [c for c, v in scores.items()
                          if c in self._integrity and c not in excluded and v >= th.min_score]
        others = {c: v for c, v in scores.items() if c not in integrity_cats} if integrity_cats else scores
        competing = others if max(others.values(), default=0.0) >= th.min_score else scores
        category, agency, confidence, score, rules_hit, also = self._decide(competing, matched, excluded)
        urgent = False
        if category is not None:
            cat = self.rules.categories[category]
            urgent = cat.urgent or any(p in found for p in cat.urgent_when)
        # One Classification per complaint: building a frozen dataclass twice was a tenth of the time.
        hint_used = hint_cat is not None and score > 0  # not when nothing scored at all
        return Classification(category, agency, confidence, score, rules_hit, also, hint_used, urgent,
                              bool(integrity_cats))

    def _decide(self, scores: dict[str, float], matched: dict[str, list[str]],
                excluded: set[str]) -> tuple[str | None, str | None, float, float, tuple[str, ...], tuple[str, ...]]:
        """Category, agency, confidence, score, matched rules and other categories of the decision."""
        th = self.rules.thresholds
        ranked = sorted((-s, c) for c, s in scores.items() if s > 0 and c not in excluded)
        if not ranked:
            return None, None, 0.0, 0.0, (), ()
        best_score, best = -ranked[0][0], ranked[0][1]
        agency = self._agency[best]
        rival = next((-s for s, c in ranked[1:] if self._agency[c] != agency), 0.0)
        confidence = round(best_score / (best_score + rival) * min(1.0, best_score / th.strong_score), 3)
        also = tuple(c for s, c in ranked[1:] if -s >= th.min_score)
        rules_hit = tuple(sorted(matched[best]))
        if best_score < th.min_score or confidence < th.min_confidence:
            return None, None, confidence, best_score, rules_hit, (best, *also)
        return best, agency, confidence, best_score, rules_hit, also
