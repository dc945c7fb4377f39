"""Transport, the bottom layer: sockets (connection, event_loop, frames), the hub that moves
rendered strings between them, and short-lived shared state (live_state), each in-process or
through Redis (redis_hub).

Contract: nothing here imports webchat outside realtime/ (lint-imports checks it); settings
arrive as arguments, never from the app.
"""
