"""Datasets, transforms, anomaly synthesis and the demo workspace builder."""
