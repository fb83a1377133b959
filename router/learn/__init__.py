"""Learning the router from CRM history: rows, the model, evaluation, corrections.

``rows`` (read history files, map CRM labels to agency codes), ``model`` (features,
training, the model file), ``evaluate`` (cross-validation and the report),
``landmarks`` (street/landmark -> kelurahan learned from history), ``synth`` (the
generator of the shipped development set), ``feedback`` (re-dispositions from the CRM,
stored in PostgreSQL). Pure functions over rows; ``kanal router train|eval`` only
parses arguments and calls them. See docs/router.md.
"""
