"""Anomaly Studio desktop GUI (PySide6 + pyqtgraph). Model work runs in app.workers only."""
