"""MUG facial expression database, read from the user's own download."""
