"""The complaint schema and the pure cleaners every channel shares.

This package is the bottom layer: it imports nothing else of Kanal's.
"""

from normalizer.complaint import (
    SCHEMA_TYPE,
    SCHEMA_VERSION,
    Attachment,
    ChannelRef,
    Complaint,
    Location,
    Reporter,
)
from normalizer.identity import complaint_id

__all__ = [
    "SCHEMA_TYPE",
    "SCHEMA_VERSION",
    "Attachment",
    "ChannelRef",
    "Complaint",
    "Location",
    "Reporter",
    "complaint_id",
]
