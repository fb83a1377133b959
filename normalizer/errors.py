"""Describing a pydantic ValidationError without the values it refused.

pydantic's own message quotes every refused value (``input_value=-6.2``); a
normaliser's input is a citizen's message, so that text would carry coordinates,
names and complaint text into logs and quarantine reasons. The summary here names
the model, each field and the error type, nothing else: the raw bytes are kept in
quarantine for whoever needs the values.
"""

from __future__ import annotations

from pydantic import ValidationError

#: Errors listed in one summary; the rest are counted.
MAX_LISTED = 5


def describe_validation_error(exc: ValidationError) -> str:
    """``invalid Location: lat (less_than_equal)``: model, fields and error types only."""
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    listed = [f"{'.'.join(map(str, e['loc'])) or '(whole value)'} ({e['type']})" for e in errors[:MAX_LISTED]]
    more = f"; and {len(errors) - MAX_LISTED} more" if len(errors) > MAX_LISTED else ""
    return f"invalid {exc.title}: {'; '.join(listed)}{more}"
