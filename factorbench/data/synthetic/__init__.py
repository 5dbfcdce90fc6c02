"""The embedded synthetic datasets (SPEC §2.1); importing a module registers it."""

from . import digits_rgb  # noqa: F401
