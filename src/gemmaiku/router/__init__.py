"""Route each query to the haiku model or a prose model (a trained classifier plus one rule)."""
