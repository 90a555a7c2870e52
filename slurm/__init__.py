"""Slurm tooling next to the cluster profiles and the local test cluster: sweeps of DIGAN trainings
submitted as one job array (``python -m slurm.sweep``)."""
