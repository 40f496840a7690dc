"""`python -m bot` is the `syncbot` command."""

from bot.cli import main

raise SystemExit(main())
