"""One Alembic revision per schema change, applied in order. Never edit a released revision: add one."""
