"""`make demo`: sample customers and purchase histories for a running suite (see __main__.py)."""
