"""Video I/O, clip storage and the embedded synthetic dataset."""
