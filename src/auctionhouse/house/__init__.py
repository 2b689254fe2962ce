"""house layer (see docs/architecture.md)."""
