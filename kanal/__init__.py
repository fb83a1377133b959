"""Process wiring on top of the layers: the spool, the forwarder, the CLI."""

__version__ = "0.1.0"
