"""DIGAN (Dynamics-aware Implicit GAN, ICLR 2022): the model, training, data, metrics and analysis library."""
