"""Speed work must not change a decision: every routing decision of the shipped dev set
(router/data/devset/dev.csv, routed with the default model in batches of 100 as the
consumer does) matches the digest recorded in tests/router/data/devset_decisions.json.

After a change that is *meant* to change decisions, record them again and say so in the
commit: ``.venv/bin/python -m tests.router.test_decisions_stable --write``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from config.models import TopologyConfig
from router.engine import Router
from router.learn.default import DEFAULT_MODEL_PATH, DEVSET_DIR
from router.learn.model import load_model
from router.learn.rows import read_rows
from router.rules import load_rules
from tests.router.helpers import make_complaint

RECORD = Path(__file__).with_name("data") / "devset_decisions.json"


def decisions() -> tuple[list[str], list[str]]:
    """Texts of the dev set and a digest of each one's routing decision (time stamps left out,
    complaint ids replaced by row numbers)."""
    rows = read_rows(DEVSET_DIR / "dev.csv")
    complaints = [make_complaint(r.text, hint=r.category or None, message_id=f"dev-{i}") for i, r in enumerate(rows)]
    row_of = {str(c.id): i for i, c in enumerate(complaints)}
    router = Router(load_rules(), TopologyConfig(), model=load_model(DEFAULT_MODEL_PATH))
    digests = []
    for start in range(0, len(complaints), 100):
        batch = complaints[start:start + 100]
        for routed in router.route_many(batch, router.predict(batch)):
            assert not isinstance(routed, Exception), routed
            routing = {k: v for k, v in routed.routing.items() if k != "routed_at"}
            routing["duplicate_of"] = row_of.get(routing["duplicate_of"] or "")
            routing["copies"] = [(c.queue, c.routing_key) for c in routed.copies]
            blob = json.dumps(routing, sort_keys=True, ensure_ascii=False, default=str)
            digests.append(hashlib.sha256(blob.encode()).hexdigest()[:16])
    return [r.text for r in rows], digests


def test_dev_set_decisions_are_unchanged():
    texts, digests = decisions()
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))["digests"]
    assert len(digests) == len(recorded)
    changed = [(i, texts[i]) for i, (a, b) in enumerate(zip(digests, recorded, strict=True)) if a != b]
    assert not changed, f"{len(changed)} decisions changed, first: {changed[:3]}"


if __name__ == "__main__" and "--write" in sys.argv:
    _, found = decisions()
    RECORD.write_text(json.dumps({"source": "router/data/devset/dev.csv, default model", "digests": found},
                                 indent=0) + "\n", encoding="utf-8")
    print(f"recorded {len(found)} decisions in {RECORD}")
