"""Smaller rooms: no module of Kanal's own packages grows past about 300 lines without
saying why.

A module over :data:`LIMIT` lines must carry a sentence starting "Over 300 lines on
purpose:" in its module docstring (``kanal/forwarder/session.py`` is the house
example); otherwise it should be split along its natural seams. The limit is 330, not
300, so a module that grows a few lines past 300 does not fail at once.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The project's own Python packages (tests, benchmarks and the venv are not).
PACKAGES = ("connectors", "normalizer", "router", "config", "kanal")
LIMIT = 330
REASON = "Over 300 lines on purpose"


def own_modules() -> list[Path]:
    """Every ``.py`` file under the project's own packages."""
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
                  if "__pycache__" not in path.parts)


def line_count(path: Path) -> int:
    """Lines of a file, as ``wc -l`` counts them for a file ending in a newline."""
    return len(path.read_text(encoding="utf-8").splitlines())


def gives_a_reason(path: Path) -> bool:
    """True when the module docstring says why the module is this long."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return REASON in " ".join(docstring.split())  # the sentence may wrap across lines


class TestModuleSize:
    def test_the_walk_finds_the_packages_modules(self) -> None:
        found = {path.relative_to(ROOT).as_posix() for path in own_modules()}
        assert {"connectors/runner.py", "normalizer/complaint.py", "router/engine.py", "config/loader.py",
                "kanal/spool/store.py"} <= found

    def test_no_module_is_over_the_limit_without_a_reason_in_its_docstring(self) -> None:
        too_long = []
        for path in own_modules():
            name = path.relative_to(ROOT).as_posix()
            lines = line_count(path)
            if lines > LIMIT and not gives_a_reason(path):
                too_long.append(f"{name}: {lines} lines")
        assert not too_long, (
            f"over {LIMIT} lines with no '{REASON}: ...' sentence in the module docstring "
            f"(split it along its seams, or say why it is one thing): " + "; ".join(too_long)
        )

    def test_a_reason_is_found_even_when_the_sentence_wraps(self, tmp_path: Path) -> None:
        module = tmp_path / "long.py"
        module.write_text('"""A module.\n\nOver 300\nlines on purpose: one state machine.\n"""\n', encoding="utf-8")
        assert gives_a_reason(module)
        module.write_text('"""A module."""\n# Over 300 lines on purpose: only a comment.\n', encoding="utf-8")
        assert not gives_a_reason(module)
