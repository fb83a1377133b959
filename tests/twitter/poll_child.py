"""Run one poll of a twitter channel against a fake X API, in its own process.

``python -m tests.twitter.poll_child <spool path> <api url> <batch size>``; the
crash test kills this process with SIGKILL in the middle of a page.
"""

from __future__ import annotations

import sys
from pathlib import Path

from connectors.attachments import LocalAttachmentStore
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from tests.twitter.conftest import make_connector


def main() -> None:
    """Poll once and exit."""
    spool_path, url, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    spool = Spool(spool_path)
    connector = make_connector(url, max_results=5)
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(Path(spool_path).parent / "att"), batch_size)
    print("polling", flush=True)
    runner.poll_once()
    print("done", flush=True)


if __name__ == "__main__":
    main()
