"""maskaae: Mask Adversarial Auto-Encoders that find the latent size by themselves."""

__version__ = "0.1.0"
