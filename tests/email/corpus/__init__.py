"""A made-up corpus of citizen mail as real clients write it (see :mod:`.messages`)."""

from tests.email.corpus.messages import CORPUS, CorpusMail, Expect

__all__ = ["CORPUS", "CorpusMail", "Expect"]
