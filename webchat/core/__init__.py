"""The core: what users do, one function per operation, for every front door (pages, socket, API)."""
