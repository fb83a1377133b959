"""The ``sms`` channel type: one receiving number or short code behind one gateway backend.

Backends: Gammu SMSD files and SQL (pulled), and HTTP inbound on the shared
webhook server (Kannel get-url / post-url, Twilio-compatible, an Indonesian
aggregator form post, and Kanal's own signed JSON). See docs/sms.md.
"""
