from . import model  # noqa: F401  (registers "dcgan")
