"""GAN training: the loop (losses, lazy R1, EMA), DiffAug, Δt sampling and checkpoints."""
