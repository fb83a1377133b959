"""Resident memory of an idle `kanal run` with four channels configured.

Four channel instances of four types (sms on a Gammu files inbox, email, twitter,
facebook; the last three point at a closed local port, so they sit backing off as
they would during an outage) plus the webhook server, in two modes:
  * broker: forwarder to the RabbitMQ on 127.0.0.1:5672 (the production shape);
  * embedded: no broker, the router runs in the same process.
Baseline, measured in the same run: a bare Python interpreter that only sleeps.

Target: < 100 MB (broker mode).

    .venv/bin/python benchmarks/bench_memory.py [--settle 8]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import ROOT, machine


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def config_text(folder: Path, broker: bool) -> str:
    closed = "http://127.0.0.1:9"
    broker_block = (
        "broker:\n  url: amqp://guest@127.0.0.1:5672/%2F\n  password: ${BENCH_SECRET_AMQP}\n" if broker else ""
    )
    return textwrap.dedent(f"""\
        spool: {{path: {folder}/spool.db}}
        attachments: {{path: {folder}/att}}
        webhooks: {{port: 0}}
        log: {{level: warning}}
        """) + broker_block + textwrap.dedent(f"""\
        channels:
          - name: sms-08111272206
            type: sms
            poll_interval: 2
            options:
              account: "+628111272206"
              backend: gammu_files
              gammu_files: {{inbox_path: {folder}/sms/inbox, done_path: {folder}/sms/done}}
          - name: email-dki
            type: email
            options: {{address: dki@jakarta.go.id, host: 127.0.0.1, port: 9, tls: false,
                       password: "${{BENCH_SECRET}}"}}
          - name: twitter-dkijakarta
            type: twitter
            options: {{accounts: [dkijakarta], bearer_token: "${{BENCH_SECRET}}", api_base_url: "{closed}"}}
          - name: facebook-pemprov-dki
            type: facebook
            options: {{page_id: "100000000000001", page_access_token: "${{BENCH_SECRET}}",
                       graph_api_base_url: "{closed}/"}}
        """)


def measure(cmd: list[str], settle: float, cwd: Path, env: dict) -> float:
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(settle)
        if process.poll() is not None:
            msg = f"{cmd} exited early with {process.returncode}"
            raise RuntimeError(msg)
        return rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds idle before reading RSS")
    args = parser.parse_args()
    env = {**os.environ, "BENCH_SECRET": "not-a-real-token", "BENCH_SECRET_AMQP": "guest", "PYTHONPATH": str(ROOT)}
    baseline = measure([sys.executable, "-c", "import time; time.sleep(60)"], 1.0, ROOT, env)
    figures = {}
    for mode, broker in (("broker", True), ("embedded", False)):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "kanal.yaml").write_text(config_text(folder, broker), encoding="utf-8")
            figures[mode] = measure(
                [sys.executable, "-m", "kanal", "run", "--config", str(folder / "kanal.yaml")],
                args.settle, folder, env,
            )
    print(f"machine: {machine()}")
    print(f"bare python interpreter (baseline)      : {baseline:6.1f} MB")
    for mode, value in figures.items():
        print(f"idle kanal run, 4 channels, {mode:<9}   : {value:6.1f} MB  (x{value / baseline:.1f} baseline)")
    print(f"target < 100 MB (broker mode)            : {'MET' if figures['broker'] < 100 else 'NOT MET'}")


if __name__ == "__main__":
    main()
