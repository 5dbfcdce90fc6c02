"""BFVAE: background/foreground VAE (thesis Chapter 5, §5.3)."""

from . import model  # noqa: F401  (registers "bfvae")
