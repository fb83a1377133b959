"""The public Inspektorat form (``/inspektorat/``): reports of abuse of authority by
Pemprov staff, confidential from end to end."""
