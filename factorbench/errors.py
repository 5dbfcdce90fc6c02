"""User-facing errors.

A :class:`FactorbenchError` is a mistake the user can fix (bad input, missing data, a
checkpoint that does not match its config). The CLI prints its message as one line and
exits non-zero; anything else is a bug and keeps its traceback.
"""


class FactorbenchError(Exception):
    """A user mistake or bad input, reported as one clear line."""
