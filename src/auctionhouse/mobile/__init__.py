"""Mobile bidder agents that travel from house to house (seed 004, DESIGN.md section 6).

An agent is data, never code: a mandate its owner signed (``ledger.mandate``) and a travel state
with a signed, hash-chained trip log (``travel``). Every house hosts visiting agents
(``host``, ``routes``); ``owner`` turns an owner's TOML or JSON document into a signed mandate;
``records`` is home's live record of its agents. See docs/agents.md, "Mobile agents".
"""
