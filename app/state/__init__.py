"""Qt-free application state (what is open, what is selected, filters)."""
