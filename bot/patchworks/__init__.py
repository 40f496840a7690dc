"""Patchworks: the domain (models), the port (report) and its adapter (core_api)."""
