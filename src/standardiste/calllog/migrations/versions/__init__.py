"""Revisions of the "calllog" branch."""
