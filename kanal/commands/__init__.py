"""The ``kanal`` commands, one module per command group; :mod:`kanal.cli` builds the
parser from their ``register`` functions and runs the one chosen.

Each module parses nothing itself and holds only its command's glue: read the
config, call the code that does the work (:mod:`kanal.app`, :mod:`kanal.status`,
:mod:`kanal.quarantine`, :mod:`router.learn.commands`...), print, return the exit code.
"""
