"""syncbot's sandbox, a distribution of its own that production never installs: a Patchworks
simulator, a local Slack Web API and Socket Mode server with a Block Kit checker, the desk that
turns page actions into signed Slack requests, the sandbox page and the demo."""
