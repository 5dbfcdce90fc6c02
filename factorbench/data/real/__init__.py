"""Real datasets read from a local root (SPEC §2.2); importing a module registers it.

Nothing is downloaded: ``--data-root`` or ``FACTORBENCH_DATA`` points at data the user has.
"""

from . import base  # noqa: F401
