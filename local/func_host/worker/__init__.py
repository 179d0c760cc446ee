"""The language worker process: Microsoft's worker library behind a small proxy (see `proxy`)."""
