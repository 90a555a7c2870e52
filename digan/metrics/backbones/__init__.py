"""Pretrained feature networks for the video metrics (I3D for FVD/KVD, the in-pipeline probe)."""
