"""CK+ (the extended Cohn-Kanade dataset), read from the user's own download."""
