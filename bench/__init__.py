"""Benchmarks that print figures (speed, memory, accuracy). Run: python -m bench [name ...]."""
