"""Peers that replicate the house through an existing Raft library (pysyncobj 0.3.17).

``auctionhouse peer`` runs a whole house (API, WebSocket, page) whose writes are commands of a
replicated state machine: the same rules core and ledger as the single house, applied in the
same order on every replica (docs/peers.md, docs/decisions/0015-replicated-state.md).

- ``codec``: replicated commands (JSON, idempotency key, proposer's time) and the restricted
  unpickler put in front of pysyncobj's pickle.
- ``machine``: the replicated state machine (a pysyncobj consumer around an ``AuctionHouse``).
- ``tls``: the cluster CA, peer certificates and the mutually authenticated TLS tunnels.
- ``transport``: pysyncobj's TCP transport, routed through the tunnels.
- ``service``: the house service the server app calls, with writes going through Raft.
- ``peer``: one peer process (Raft node + tunnels + the server app).
- ``ring``, ``directory``, ``groups``, ``forward``: ``peer --ring``: groups on a ring of peers,
  the replicated directory, a peer in many groups behind one TLS port, and forwarding
  (docs/decisions/0026-groups-on-a-ring.md).
"""
