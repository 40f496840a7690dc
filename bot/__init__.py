"""syncbot: failed Patchworks syncs in Slack."""

__version__ = "0.1.0"
