"""What ``kanal router train`` and ``kanal router eval`` (``--routed`` too) do, given parsed arguments.

Each returns an exit status: 0 done, 2 bad input (file, model or config). Output goes
to ``out`` (standard output by default); nothing here parses a command line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from router.learn.evaluate import cross_validate, report, score_model
from router.learn.model import ModelError, RouterModel, fit, load_model
from router.learn.rows import LabelMap, Row, RowsError, read_rows

if TYPE_CHECKING:
    from config.models import RouterConfig

Out = Callable[[str], None]
#: ``kanal router eval --routed`` says how far it is every this many rows (on stderr).
PROGRESS_EVERY = 10_000


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def train(data: list[Path], out_path: Path, labels: LabelMap | None, feedback: list[Row] | None = None,
          out: Out = print) -> int:
    """Train on history files (plus stored corrections) and write the model file."""
    try:
        rows = [r for path in data for r in read_rows(path)]
    except RowsError as exc:
        _err(f"kanal router train: {exc}")
        return 2
    rows += feedback or []
    if len({r.agency for r in rows}) < 2:
        _err("kanal router train: the rows name fewer than two agencies; nothing to learn")
        return 2
    model = fit(rows)
    version = model.save(out_path)
    out(f"trained on {len(rows)} rows ({len(feedback or [])} from corrections) in {model.meta['train_seconds']} s")
    out(f"model {out_path}: version {version}, {out_path.stat().st_size:,} bytes, "
        f"{len(model.landmarks)} learned landmarks")
    _report_labels(model.labels, labels, out)
    return 0


def evaluate(data: Path, model_path: Path | None, folds: int, labels: LabelMap | None, out: Out = print) -> int:
    """Cross-validate on ``data``, or score the model at ``model_path`` on it."""
    try:
        rows = read_rows(data)
    except RowsError as exc:
        _err(f"kanal router eval: {exc}")
        return 2
    if not rows:
        _err(f"kanal router eval: {data} has no rows")
        return 2
    if model_path is not None:
        try:
            model = load_model(model_path)
        except ModelError as exc:
            _err(f"kanal router eval: {exc}")
            return 2
        _report_labels(model.labels, labels, out)
        report(score_model(model, rows), f"model {model.version} on {data.name}", out)
        return 0
    if len({r.agency for r in rows}) < 2:
        _err("kanal router eval: the rows name fewer than two agencies")
        return 2
    scored = cross_validate(rows, folds)
    report(scored, f"{int(scored.extra['folds'])}-fold cross-validation (grouped by text) on {data.name}", out)
    return 0


def evaluate_routed(data: Path, router_cfg: RouterConfig | None, model_choice: str | None, labels: LabelMap,
                    out: Out = print) -> int:
    """Route every row of ``data`` as ``kanal router`` would and report right / triage /
    wrong, next to the rules alone (router/learn/routed_eval.py). ``model_choice``
    overrides ``router.model`` (a file, ``default`` or ``none``)."""
    from config.models import RouterConfig, TopologyConfig
    from router.engine import Router, RouterOptions, model_path
    from router.learn.routed_eval import report_routed, route_rows
    from router.rules import RulesError, load_rules

    cfg = router_cfg or RouterConfig()
    try:
        rows = read_rows(data)
        rules = load_rules(cfg.rules)
        path = model_path(model_choice if model_choice is not None else cfg.model)
        model = load_model(path) if path is not None else None
    except (RowsError, RulesError, ModelError) as exc:
        _err(f"kanal router eval: {exc}")
        return 2
    if not rows:
        _err(f"kanal router eval: {data} has no rows")
        return 2
    options = RouterOptions.model_validate(cfg.options)

    def router(with_model: RouterModel | None) -> Router:
        return Router(rules, TopologyConfig(), options, model=with_model, labels=cfg.labels,
                      model_threshold=cfg.model_threshold)

    def progress(what: str) -> Callable[[int], None]:
        last = 0

        def say(done: int) -> None:
            nonlocal last
            if done - last >= PROGRESS_EVERY:
                last = done
                print(f"kanal router eval: {what}: routed {done:,} of {len(rows):,} rows", file=sys.stderr)
        return say

    routed = route_rows(router(model), rows, labels, progress("as configured"))
    rules_alone = route_rows(router(None), rows, labels, progress("rules alone")) if model is not None else None
    how = f"rules + model {model.version} (threshold {cfg.model_threshold:.2f})" if model else "rules alone"
    report_routed(f"{how} on {data.name}", routed, rules_alone, out)
    return 0


def config_problems(router_cfg: object) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` of a config's ``router`` section about its model, for
    ``kanal check-config``: a model file that cannot be loaded is an error; labels of the
    model that map to no agency (their complaints go to triage) are a warning."""
    from router.engine import model_path
    from router.rules import RulesError, load_rules

    path = model_path(getattr(router_cfg, "model", None))
    if path is None:
        return [], []
    try:
        model = load_model(path)
        rules = load_rules(getattr(router_cfg, "rules", None))
    except (ModelError, RulesError) as exc:
        return [f"router.model: {exc}"], []
    unmapped = LabelMap(rules.agencies, getattr(router_cfg, "labels", None)).unmapped(model.labels)
    if not unmapped:
        return [], []
    warning = ("router.model: labels that map to no agency (complaints predicted as these go to triage; "
               f"map them in router.labels): {', '.join(unmapped)}")
    return [], [warning]


def _report_labels(model_labels: list[str], labels: LabelMap | None, out: Out) -> None:
    if labels is None:
        return
    unmapped = labels.unmapped(model_labels)
    if unmapped:
        out(f"unmapped labels (complaints predicted as these go to triage; map them in router.labels): "
            f"{', '.join(unmapped)}")
