"""The ``facebook`` channel: one Facebook Page (wall posts, comments, Messenger) and the
Instagram professional account linked to it, by Graph API polling and Meta webhooks."""
