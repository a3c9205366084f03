"""Shells that perform the cores' effects on real file descriptors and processes."""
