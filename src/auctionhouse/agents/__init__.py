"""Agents: the runtime, the market port and its two adapters, bidder and seller strategies,
agent documents and the seed scenarios. See docs/agents.md."""
