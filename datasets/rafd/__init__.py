"""RaFD (Radboud Faces Database), read from the user's own download."""
