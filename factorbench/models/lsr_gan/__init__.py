from . import model  # noqa: F401  (registers "lsr_gan")
