"""Panels composed by the main window: worklist, case information."""
