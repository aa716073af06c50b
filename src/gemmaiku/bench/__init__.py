"""Benchmarks: scripts that print figures for the docs (not tests)."""
