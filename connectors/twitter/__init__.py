"""X/Twitter channel: mentions of the Pemprov's accounts (polled), optional Account Activity push."""
