"""The shipped Prometheus alert rules: valid (``promtool check rules``), behaving as
their unit tests say (``promtool test rules``), and each with its runbook section in
docs/operations.md. promtool comes with Debian's ``prometheus`` package (.ci/run
installs it); without it these tests skip locally and fail in CI."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.services import require_program

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "kanal-rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "kanal-rules.test.yml"


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_program("promtool"), *args], capture_output=True, text=True, timeout=120,
                          cwd=RULES.parent, check=False)


def test_promtool_accepts_the_rules() -> None:
    result = _promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    result = _promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_a_runbook_section() -> None:
    alerts = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]
    tested = {t["alertname"] for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for t in case.get("alert_rule_test", [])}
    headings = {h.strip().lower() for h in re.findall(r"^#{2,4} (.+)$", (ROOT / "docs" / "operations.md").read_text(),
                                                        flags=re.MULTILINE)}
    for alert in alerts:
        assert alert["alert"] in tested, f"{alert['alert']} has no promtool unit test"
        anchor = alert["annotations"]["runbook"].split("#", 1)[1]
        assert anchor in headings, f"docs/operations.md has no section '{anchor}' for {alert['alert']}"
