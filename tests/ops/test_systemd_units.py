"""The shipped systemd units pass ``systemd-analyze verify`` with no complaint, and keep
the hardening the deployment guide promises.

``systemd-analyze`` comes with systemd; a container may have no systemd at all, so
unlike the other real-tool tests these skip (with the reason) even in CI when it is
absent. The units' ``ExecStart`` path (/opt/kanal/...) is pointed at this checkout's
``kanal`` for the check, since verify also checks that the command exists.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED_KANAL = "/opt/kanal/.venv/bin/kanal"


def _verify(folder: Path, *names: str) -> subprocess.CompletedProcess:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (containers may lack systemd; not required in CI)")
    return subprocess.run([tool, "verify", *(f"./{n}" for n in names)], cwd=folder, capture_output=True,
                          text=True, timeout=60, check=False)


def _copy_units(tmp_path: Path) -> list[str]:
    kanal = Path(sys.executable).with_name("kanal")
    assert kanal.exists(), "the kanal console script is not installed next to this Python"
    names = []
    for unit in sorted(UNITS.glob("*.service")):
        name = unit.name.replace("@.", "@dki.")  # a template is verified as one of its instances
        (tmp_path / name).write_text(unit.read_text().replace(INSTALLED_KANAL, str(kanal)))
        names.append(name)
    return names


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    names = _copy_units(tmp_path)
    assert names == ["kanal-router.service", "kanal-run@dki.service"]
    result = _verify(tmp_path, *names)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_verify_reports_a_mistake(tmp_path: Path) -> None:
    """The check above has teeth: a misspelt key is reported (verify still exits 0 for it)."""
    names = _copy_units(tmp_path)
    unit = tmp_path / names[0]
    unit.write_text(unit.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    result = _verify(tmp_path, names[0])
    assert "NoNewPrivilege" in result.stdout + result.stderr


@pytest.mark.parametrize("unit", ["kanal-run@.service", "kanal-router.service"])
def test_units_run_hardened_as_the_kanal_user(unit: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((UNITS / unit).read_text())
    service = parser["Service"]
    assert service["User"] == "kanal" and service["Restart"] == "on-failure"
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service["PrivateTmp"] == "yes" and service["ReadWritePaths"].startswith("/var/lib/kanal/")
    assert "EnvironmentFile" in service or "LoadCredential" in service
