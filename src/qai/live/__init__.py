"""Live events: an append-only log per project that clients stream over SSE."""
