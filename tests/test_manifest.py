"""manifest.yml installs: it validates against Slack's manifest schema and declares what the bot uses."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from blocks.ids import Command

ROOT = Path(__file__).resolve().parents[1]


def load() -> dict[str, object]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())  # type: ignore[no-any-return]


def test_the_manifest_validates_against_slacks_schema() -> None:
    schema = json.loads((ROOT / "tests" / "schemas" / "slack-manifest.schema.1.0.0.json").read_text())
    errors = [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(load())]
    assert errors == []


def test_the_manifest_declares_the_command_interactivity_and_only_needed_scopes() -> None:
    manifest = load()
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]  # type: ignore[index]
    assert commands == [Command.FAILED_SYNCS]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True  # type: ignore[index]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])  # type: ignore[index]
    assert scopes == {"chat:write", "commands", "usergroups:read", "channels:history", "groups:history"}
