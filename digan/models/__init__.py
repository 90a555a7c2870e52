"""DIGAN networks: the INR video generator (paper §3.2) and the image and motion discriminators (§3.3)."""
