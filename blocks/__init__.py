"""Pure Block Kit builders: domain objects in, Block Kit dicts out. No I/O, no settings."""
