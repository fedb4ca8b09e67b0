"""Synthetic images and lesions for the demo workspace and offline accuracy benchmarks.

Everything generated here is marked ``synthetic`` in the workspace metadata.
"""
