"""The one web layer: werkzeug + Jinja2 under waitress, owned by the process wiring.

Connectors contribute webhook routes (:mod:`connectors.webhooks`); pages are apps of
their own folder (:mod:`kanal.desk`, :mod:`kanal.inspektorat`) with templates beside
them. :mod:`kanal.web.site` puts them on one WSGI stack that
:class:`connectors.webhooks.WebhookServer` serves. Everything (CSS included) is served
by Kanal itself: the desk PCs have no internet.
"""
