"""`python -m syncbot_sandbox` is the `syncbot-sandbox` command."""

from syncbot_sandbox.cli import main

raise SystemExit(main())
