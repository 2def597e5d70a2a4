"""The JWT-secured JSON API."""
