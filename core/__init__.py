"""Anomaly Studio engine: numpy/torch only, never Qt."""

__version__ = "0.1.0"
