"""SPAIR (Crawford & Pineau 2019): a comparison model of thesis Chapter 6 (§6.4)."""

from . import model  # noqa: F401  (registers "spair")
