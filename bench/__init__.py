"""Benchmarks that print figures (speed, memory, accuracy)."""
