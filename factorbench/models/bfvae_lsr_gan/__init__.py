from . import image_encoder, model  # noqa: F401  (registers "bfvae_ef" and "bfvae_lsr_gan")
