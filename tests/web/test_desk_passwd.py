"""``kanal desk passwd`` end to end: the hash it prints goes into the config of a real
``kanal run``, and the desk's sign-in over HTTP takes the new password and refuses the
old one after a change. Its refusals (too short, none, two different entries at a
terminal) say what to do and print no hash."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from tests.core.broker_kit import listen_port
from tests.pipeline.kit import KanalProcess

OLD = "sandi-lama-balaikota-1"
NEW = "sandi-baru-balaikota-2"
PROMPTS = (b"Kata sandi loket:", b"Ulangi:")


def passwd(stdin: str) -> subprocess.CompletedProcess:
    """``kanal desk passwd`` with ``stdin`` piped in (not a terminal)."""
    return subprocess.run([sys.executable, "-m", "kanal", "desk", "passwd"], input=stdin, capture_output=True,
                          text=True, timeout=30, check=False)


def hashes_of(*lines: str) -> list[str]:
    """What ``kanal desk passwd`` prints for each piped line (the runs in parallel)."""
    runs = [subprocess.Popen([sys.executable, "-m", "kanal", "desk", "passwd"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in lines]
    hashes = []
    for run, line in zip(runs, lines, strict=True):
        out, err = run.communicate(line, timeout=30)
        assert run.returncode == 0, err
        [printed] = out.splitlines()
        hashes.append(printed)
    return hashes


def _write_config(tmp: Path, port: int, password_hash: str) -> Path:
    config = {
        "spool": {"path": str(tmp / "spool.db")},
        "attachments": {"path": str(tmp / "attachments")},
        "webhooks": {"host": "127.0.0.1", "port": port},
        "metrics": {"port": 0, "router_port": 0},
        "log": {"level": "info"},
        "channels": [{"name": "walkin-desks", "type": "walkin", "options": {
            "desk": "Loket Pengaduan",
            "desks": [{"id": "balaikota", "name": "Balai Kota", "kelurahan": "31.71.01.1001",
                       "password_hash": password_hash}]}}],
    }
    path = tmp / "kanal.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def sign_in(base: str, password: str) -> requests.Response:
    """The sign-in form as a browser sends it: GET for the session cookie and CSRF token, then POST.

    The cookie is ``Secure`` (cookie_secure defaults to true); a browser sends it to
    http://localhost, requests does not, so it is passed on by hand."""
    form = requests.get(f"{base}/desk/login", timeout=10)
    assert form.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return requests.post(f"{base}/desk/login", data={"csrf": csrf, "desk": "balaikota", "password": password},
                         cookies={"kanal_desk": form.cookies["kanal_desk"]}, allow_redirects=False, timeout=10)


def signed_in(answer: requests.Response, base: str) -> bool:
    """True when the sign-in answer leads to the desk's form."""
    if answer.status_code != 303:
        return False
    page = requests.get(base + answer.headers["Location"].removeprefix(base), allow_redirects=False,
                        cookies={"kanal_desk": answer.cookies["kanal_desk"]}, timeout=10)
    return page.status_code == 200 and 'name="description"' in page.text


def test_help_says_what_it_prints_and_where_it_goes() -> None:
    done = subprocess.run([sys.executable, "-m", "kanal", "desk", "--help"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for words in ("passwd", "standard input", "argon2id", "password_hash"):
        assert words in text, words


def test_a_new_password_signs_in_and_the_old_one_no_longer_does(tmp_path: Path) -> None:
    # The change: the desk's password_hash becomes the hash of the new password, here
    # from a line of a Windows file (its CR is not part of the password).
    before, after = hashes_of(OLD + "\n", NEW + "\r\n")
    assert before.startswith("$argon2id$") and OLD not in before
    PasswordHasher().verify(before, OLD)  # a standard argon2id hash of exactly that password
    assert after.startswith("$argon2id$") and after != before
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(after, OLD)

    port = listen_port()
    base = f"http://localhost:{port}"
    config = _write_config(tmp_path, port, after)
    process = KanalProcess(["run", "--config", str(config)], {}, tmp_path / "kanal.log",
                           health_url=f"http://127.0.0.1:{port}/healthz")
    process.start()
    try:
        stale = sign_in(base, OLD)
        assert stale.status_code == 401 and "Loket atau kata sandi salah." in stale.text
        assert not signed_in(sign_in(base, NEW + "\r"), base)
        assert signed_in(sign_in(base, NEW), base)
    finally:
        assert process.terminate() == 0
    assert "sandi-" not in process.tail(100_000), "no password in the log"


@pytest.mark.parametrize(("stdin", "says"), [
    ("pendek\n", "too short (6 characters); use at least 10"),
    ("\n", "no password given"),
    ("", "no password given"),
])
def test_a_refused_password_says_what_to_fix_and_prints_no_hash(stdin: str, says: str) -> None:
    done = passwd(stdin)
    assert done.returncode == 2
    assert done.stdout == ""
    assert says in done.stderr


def _terminal(entries: list[str]) -> tuple[int, str]:
    """``kanal desk passwd`` on a pseudo-terminal answering each prompt with ``entries``."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its controlling tty, as for a person typing
        os.execv(sys.executable, [sys.executable, "-m", "kanal", "desk", "passwd"])
    output, pending = b"", list(entries)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            # Answer each prompt once it is shown (getpass flushes what was typed before it).
            answered = len(entries) - len(pending)
            if pending and PROMPTS[answered] in output:
                os.write(fd, pending.pop(0).encode() + b"\n")
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_at_a_terminal_two_different_entries_are_refused() -> None:
    code, output = _terminal([OLD, NEW])
    assert code == 2, output
    assert "the two passwords differ" in output and "type the same password twice" in output
    assert "$argon2" not in output and OLD not in output, "nothing echoed, no hash"

    code, output = _terminal([NEW, NEW])
    assert code == 0, output
    [line] = [x for x in output.splitlines() if x.startswith("$argon2id$")]
    PasswordHasher().verify(line.strip(), NEW)
    assert NEW not in output, "the password is not echoed"
