"""factorbench: evaluation and benchmarking for generative models with factorised representations.

Data flows one way: dataset -> model -> outputs -> metric -> result record -> table
(see docs/architecture.md).
"""

__version__ = "0.1.0"
