"""The admin-editable classification rules: load, validate, compile.

The YAML format is documented at the top of the shipped ``router/rules.yaml`` and in
docs/router.md. Loading validates everything at once (unknown agency, empty phrase,
unknown key) and raises :class:`RulesError` listing every problem, so a typo in the
rules file stops the router at start-up instead of misrouting complaints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from router.textnorm import TextNormaliser

#: The rules shipped with Kanal.
DEFAULT_RULES_PATH = Path(__file__).with_name("rules.yaml")


class RulesError(ValueError):
    """The rules file is invalid; the message lists every problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Strict):
    """When a decision is trusted enough to dispatch without a person."""

    min_score: float = Field(2.0, gt=0, description="The best category must reach this score.")
    min_confidence: float = Field(0.4, ge=0, le=1, description="Below this the complaint goes to triage.")
    strong_score: float = Field(4.0, gt=0, description="Score at which a category counts as certain.")
    hint_weight: float = Field(1.0, ge=0, description="Added when the channel's category hint agrees.")


class AgencySpec(_Strict):
    """An agency (OPD) a complaint can be dispatched to."""

    name: str = Field(min_length=1)
    confidential: bool = Field(False, description="Complaints for it go only to the confidential queue.")


class CategorySpec(_Strict):
    """A category (``service_code``) and the words that point to it."""

    agency: str
    name: str = Field(min_length=1)
    urgent: bool = False
    urgent_when: list[str] = Field(default_factory=list, description="Urgent only when one of these appears.")
    hints: list[str] = Field(default_factory=list)
    terms: dict[str, float] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)


class RulesFile(_Strict):
    """The whole rules file."""

    version: int = 1
    thresholds: Thresholds = Thresholds()
    agencies: dict[str, AgencySpec] = Field(min_length=1)
    categories: dict[str, CategorySpec] = Field(min_length=1)
    slang: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Term:
    """A compiled term: a contiguous phrase, or words that must all appear (``&``)."""

    source: str
    category: str
    weight: float
    phrase: tuple[str, ...] = ()
    all_of: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Category:
    """A compiled category."""

    code: str
    name: str
    agency: str
    urgent: bool
    terms: tuple[Term, ...]
    exclude: tuple[tuple[str, ...], ...]
    urgent_when: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Rules:
    """Compiled rules, ready for :class:`router.classify.Classifier`."""

    thresholds: Thresholds
    agencies: dict[str, AgencySpec]
    categories: dict[str, Category]
    hints: dict[str, str]
    normaliser: TextNormaliser
    source: str


def load_rules(path: Path | None = None) -> Rules:
    """Load, validate and compile a rules file (the shipped one when ``path`` is None).

    Raises:
        RulesError: the file is missing, not YAML, or breaks the format; every
            problem is listed.
    """
    path = path or DEFAULT_RULES_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read rules file {path}: {exc}"
        raise RulesError(msg) from exc
    return compile_rules(data, source=str(path))


def compile_rules(data: Any, source: str = "<rules>") -> Rules:
    """Validate a parsed rules document and compile it (see :func:`load_rules`)."""
    try:
        spec = RulesFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        msg = f"invalid rules file {source}:\n" + "\n".join(lines)
        raise RulesError(msg) from exc
    normaliser = TextNormaliser(spec.slang)
    problems: list[str] = []
    categories = {}
    hints: dict[str, str] = {}
    for code, cat in spec.categories.items():
        if cat.agency not in spec.agencies:
            problems.append(f"  categories.{code}.agency: unknown agency {cat.agency!r}")
        terms: dict[tuple, Term] = {}
        for text, weight in cat.terms.items():
            term = _compile_term(text, code, weight, normaliser)
            if term is None:
                problems.append(f"  categories.{code}.terms: {text!r} has no words")
                continue
            # "pengemis" and "emis" stem alike: one term, the larger weight, counts once.
            key = (term.phrase, term.all_of)
            if key not in terms or abs(weight) > abs(terms[key].weight):
                terms[key] = term
        exclude = tuple(p for p in (normaliser.tokens(x) for x in cat.exclude) if p)
        urgent_when = tuple(p for p in (normaliser.tokens(x) for x in cat.urgent_when) if p)
        categories[code] = Category(code, cat.name, cat.agency, cat.urgent, tuple(terms.values()), exclude, urgent_when)
        for hint in [code, *cat.hints]:
            hints[hint_key(hint)] = code
    if problems:
        msg = f"invalid rules file {source}:\n" + "\n".join(problems)
        raise RulesError(msg)
    return Rules(spec.thresholds, dict(spec.agencies), categories, hints, normaliser, source)


def hint_key(hint: str) -> str:
    """Normalise a channel category string for lookup ("Sampah " -> "sampah")."""
    return " ".join(hint.lower().replace("_", " ").split())


def _compile_term(text: str, category: str, weight: float, normaliser: TextNormaliser) -> Term | None:
    if "&" in text:
        parts = tuple(p for p in (normaliser.tokens(x) for x in text.split("&")) if p)
        if not parts:
            return None
        return Term(text, category, weight, all_of=parts)
    phrase = normaliser.tokens(text)
    return Term(text, category, weight, phrase=phrase) if phrase else None
