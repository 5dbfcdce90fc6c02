"""The public Python API, ``import factorbench as fb`` (DESIGN.md: the API mirrors the CLI).

Each module here is thin glue over :mod:`factorbench.metrics` (which holds the definitions
and cites the thesis); :mod:`factorbench` exposes their names lazily, so importing the
package (or running ``factorbench --help``) does not import torch.

- :mod:`.image_metrics`: ``fid``, ``kid``, ``precision_recall``, ``image_metrics`` (one
  feature pass per side for all three);
- :mod:`.streaming`: ``FID``, incremental ``update``/``compute`` over batches;
- :mod:`.scores`: ``sharpness``, ``average_precision``, ``count_errors``, ``probe``;
- :mod:`.models`: ``load``, ``evaluate``, ``register_model``, ``register_metric``,
  ``register_dataset``;
- :mod:`.results`: ``Result`` and ``Results``, what every call returns.
"""
