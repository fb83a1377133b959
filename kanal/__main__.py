"""``python -m kanal`` runs the CLI."""

import sys

from kanal.cli import main

sys.exit(main())
