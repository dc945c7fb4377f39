"""Real-time delivery: the hub that moves rendered HTML to open connections."""
