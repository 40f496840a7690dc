"""Local stand-ins for Slack used by tests and the demo sandbox (no Slack account needed)."""
