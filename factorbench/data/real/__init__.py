"""Real datasets read from a local root (docs/protocols.md §2.2); importing a module registers it.

Nothing is downloaded: ``--data-root`` or ``FACTORBENCH_DATA`` points at data the user has.
"""

from . import base  # noqa: F401
from . import clevr  # noqa: F401
from . import coco  # noqa: F401
from . import mnist  # noqa: F401
from . import cifar  # noqa: F401
from . import celeba  # noqa: F401
from . import imagenet64  # noqa: F401
from . import multi_mnist  # noqa: F401
from . import cub  # noqa: F401
from . import cars  # noqa: F401
from . import dogs  # noqa: F401
