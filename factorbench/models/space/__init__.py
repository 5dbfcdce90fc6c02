"""SPACE (Lin et al. 2020): a comparison model of thesis Chapter 6 (§6.4)."""

from . import model  # noqa: F401  (registers "space")
