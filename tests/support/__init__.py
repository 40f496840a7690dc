"""Helpers shared by the tests (imported as `support.…`; never from conftest)."""
