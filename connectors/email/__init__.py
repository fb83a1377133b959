"""The e-mail channel: an IMAP mailbox read with imapclient (see :mod:`.connector`)."""

from connectors.email.config import EmailOptions
from connectors.email.connector import EmailConnector

__all__ = ["EmailConnector", "EmailOptions"]
