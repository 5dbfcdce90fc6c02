from . import model  # noqa: F401  (registers "sngan")
