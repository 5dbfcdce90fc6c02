"""Models (docs/protocols.md §3); importing this registers all of them."""

from .base import MODELS, GenerativeModel, Phase, build_model, register_model  # noqa: F401
from . import vae  # noqa: F401
from . import dcgan, sngan, lsr_gan  # noqa: F401
from . import bfvae, bfvae_lsr_gan  # noqa: F401
from . import spair, space  # noqa: F401
from . import said  # noqa: F401
