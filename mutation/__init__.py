"""Mutation testing of the modules whose bugs a client would feel (``make mutants``; see mutation/README.md)."""
