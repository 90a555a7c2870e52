"""Video metrics."""
