"""The CLI verbs, one module per area; each has ``register(app)`` (see ``auctionhouse.cli``)."""
