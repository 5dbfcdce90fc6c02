"""The HTML report (``factorbench report``): tables, findings, protocol cards and plots
from stored results, as a static site that opens from disk. See :mod:`.site`."""
