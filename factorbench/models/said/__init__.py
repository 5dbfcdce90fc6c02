"""SAID and the error-map network of §6.2.2 (thesis Chapter 6, §6.2)."""

from . import model, error_map  # noqa: F401  (registers "said" and "error_map")
