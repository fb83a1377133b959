"""A real Dovecot 2.3 (Debian ``dovecot-imapd``) run from a temp folder for tests.

Each :class:`Dovecot` owns its config, maildirs and logs under one
temp folder and listens on a free high port on 127.0.0.1 with plain-text IMAP
(``ssl = no``). A static passdb accepts any user name with the test password and
gives it its own home, so a test gets a fresh, empty mailbox by logging in under
a new name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from imapclient import IMAPClient

PASSWORD = "rahasia-uji"  # made-up test password, plain-text on loopback only

_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechanisms}
mail_location = maildir:~/Maildir
first_valid_uid = 1
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = static
  args = password={password}
  mechanisms = plain login
}}
{oauth2_passdb}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail/%u allow_all_users=yes
}}
protocol imap {{
  imap_idle_notify_interval = 2 mins
{capability}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def _self_signed(cert: Path, key: Path) -> None:
    """A throw-away certificate for ``localhost`` only (no IP address in it)."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o644)  # read by Dovecot's unprivileged processes; a test key, never a real one


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dovecot:
    """One Dovecot process serving mailboxes from a temp folder.

    Parameters:
        program: path of the ``dovecot`` binary.
        capability: replaces the CAPABILITY list announced after login (to play a
            server without MOVE or IDLE).
        oauth2_introspection_url: also accept XOAUTH2 / OAUTHBEARER logins, checking
            each token by POSTing it to this URL (RFC 7662 token introspection).
        tls: also serve implicit TLS on ``imaps_port`` and STARTTLS on ``port``, with
            a self-signed certificate for ``localhost`` (``cert_file``).
    """

    def __init__(
        self,
        program: str,
        tls: bool = False,
        capability: str | None = None,
        oauth2_introspection_url: str | None = None,
    ) -> None:
        self.program = program
        # Short path: Dovecot's UNIX sockets live under it (108-byte limit).
        self.base = Path(tempfile.mkdtemp(prefix="kdc-", dir="/tmp"))
        self.base.chmod(0o755)  # Dovecot's auth process runs as the dovecot user
        self.port = free_port()
        self.imaps_port = free_port() if tls else 0
        self.cert_file = self.base / "cert.pem"
        ssl_setting = "ssl = no"
        if tls:
            key_file = self.base / "key.pem"
            _self_signed(self.cert_file, key_file)
            ssl_setting = f"ssl = yes\nssl_cert = <{self.cert_file}\nssl_key = <{key_file}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.owner = (65534, 65534)  # nobody:nogroup owns the mail
        (self.base / "mail").mkdir(mode=0o755)
        os.chown(self.base / "mail", *self.owner)
        (self.base / "dovecot.conf").write_text(
            _CONFIG.format(
                base=self.base,
                port=self.port,
                uid=self.owner[0],
                gid=self.owner[1],
                password=PASSWORD,
                ssl=ssl_setting,
                imaps_port=self.imaps_port,
                capability=f"  imap_capability = {capability}" if capability else "",
                oauth2_mechanisms=" xoauth2 oauthbearer" if oauth2_introspection_url else "",
                oauth2_passdb=self._oauth2_passdb(oauth2_introspection_url),
            )
        )

    def _oauth2_passdb(self, url: str | None) -> str:
        if not url:
            return ""
        settings = self.base / "oauth2.conf.ext"
        settings.write_text(
            f"introspection_mode = post\nintrospection_url = {url}\n"
            "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
        )
        settings.chmod(0o644)
        return f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {settings}\n}}"

    def start(self, timeout: float = 10.0) -> None:
        """Start Dovecot in the foreground and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            [self.program, "-F", "-c", str(self.base / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so stop() ends the imap children too
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                msg = f"dovecot exited with {self.proc.returncode}: {err}\n{self.log_tail()}"
                raise RuntimeError(msg)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        msg = f"dovecot did not start within {timeout}s\n{self.log_tail()}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        """Stop the Dovecot process (its mail stays on disk for a restart)."""
        if self.proc is not None and self.proc.poll() is None:
            # Like a service manager's restart: the master and every imap/auth
            # child of this instance go, and with them the clients' connections.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        # Child processes (imap, auth) may keep the port a moment after the master exits.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                time.sleep(0.05)
            except OSError:
                return

    def cleanup(self) -> None:
        """Stop and delete the temp folder."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of Dovecot's log, for failure messages."""
        log = self.base / "dovecot.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def client(self, user: str) -> IMAPClient:
        """A logged-in imapclient connection (the test's own, not the connector's)."""
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(user, PASSWORD)
        return client
