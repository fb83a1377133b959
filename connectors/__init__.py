"""Channel connectors: the contract, the registry, the runner and the webhook server.

Each channel type lives in its own sub-package (twitter, email, facebook, sms) with
a thin client (network only), a config model and a connector (fetch + normalise).
"""
