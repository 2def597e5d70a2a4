"""Users, password hashing, access tokens and roles."""
