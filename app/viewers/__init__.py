"""pyqtgraph image viewers: 2-D panels, the fundus/OCT pair view, the MRI three-plane view."""
