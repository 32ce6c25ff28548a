"""Customer data warehouse."""
