"""A throwaway RabbitMQ node for tests that crash or restart the broker.

It runs beside the shared node (which is never touched) under its own node name,
AMQP and distribution ports, data folder and config file: the shared node's
/etc/rabbitmq/rabbitmq.conf pins its listener to 5672, so the throwaway node gets a
config of its own. Every variable goes to the child processes only (``env=``), never
into this process's environment, so no later ``rabbitmqctl`` is redirected by mistake.
Debian's wrapper runs the server as the ``rabbitmq`` user, hence the chown.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.core.broker_kit import listen_port
from tests.services import missing, port_open, require_program


class RabbitNode:
    """One private RabbitMQ node. Call :meth:`start`; :meth:`destroy` when done."""

    def __init__(self) -> None:
        self.server = require_program("rabbitmq-server")
        self.ctl = require_program("rabbitmqctl")
        if os.geteuid() != 0:
            missing("root (Debian's rabbitmq-server wrapper runs the node as the rabbitmq user)")
        self.name = f"kanaltest-{uuid.uuid4().hex[:8]}@localhost"
        self.port = listen_port()  # restarted on the same port: keep it out of the ephemeral range
        self.dist_port = listen_port()
        while self.dist_port == self.port:
            self.dist_port = listen_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kanal-rmq-"))
        (self.dir / "enabled_plugins").write_text("[].\n")  # no management listener to clash
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.dir / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        shutil.chown(self.dir, "rabbitmq", "rabbitmq")
        for child in self.dir.iterdir():
            shutil.chown(child, "rabbitmq", "rabbitmq")
        self.dir.chmod(0o755)
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
        }

    @property
    def url(self) -> str:
        """AMQP URL of the node (guest may log in over loopback)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def rabbitmqctl(self, *args: str, timeout: float = 60) -> str:
        """Run ``rabbitmqctl -n <node> ARGS`` and return its output."""
        result = subprocess.run(
            [self.ctl, "-n", self.name, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            msg = f"rabbitmqctl {' '.join(args)} failed: {result.stdout}{result.stderr}"
            raise RuntimeError(msg)
        return result.stdout

    def start(self, timeout: float = 60) -> None:
        """Start the node (again, with the same data) and wait until AMQP answers."""
        subprocess.run(
            [self.server, "-detached"], env=self.env, capture_output=True, timeout=30, check=False
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open("127.0.0.1", self.port, timeout=0.5):
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self.rabbitmqctl("await_startup", "--timeout", "30", timeout=40)
                    return
            time.sleep(0.2)
        msg = f"throwaway RabbitMQ node {self.name} did not start; logs in {self.dir / 'log'}"
        raise RuntimeError(msg)

    def os_pid(self) -> int:
        """OS pid of the node's Erlang VM."""
        return int(self.rabbitmqctl("eval", "os:getpid().").strip().strip('"'))

    def kill9(self) -> None:
        """Crash the node: SIGKILL its Erlang VM, then wait until the port is closed."""
        os.kill(self.os_pid(), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while port_open("127.0.0.1", self.port, timeout=0.2) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the node cleanly (ignored when it is not running)."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.rabbitmqctl("stop", timeout=30)

    def destroy(self) -> None:
        """Stop the node and remove its data."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
