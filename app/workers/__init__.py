"""Background workers: disk I/O pool and the single GPU/model worker."""
