"""Revisions of the "agenda" branch."""
