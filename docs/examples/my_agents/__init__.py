"""A user's own agents, outside fsrl's packages (see docs/agents.md)."""
