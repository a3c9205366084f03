"""The package's data: the catalogue, fixtures and golden recordings (found through
harness/resources.py; nothing else names these paths)."""
