"""Label editing tools."""
