"""The embedded synthetic datasets (docs/protocols.md §2.1); importing a module registers it."""

from . import digits_rgb  # noqa: F401
from . import multi_digits  # noqa: F401
from . import multi_dsprites  # noqa: F401
from . import shapes2d_rgb  # noqa: F401
from . import shapes_fb  # noqa: F401
