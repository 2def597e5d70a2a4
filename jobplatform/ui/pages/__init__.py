"""One module a page of the admin app."""
