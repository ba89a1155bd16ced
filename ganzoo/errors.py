"""One exception type for every mistake a user can fix.

The CLI prints its message as a single line and exits 2, so the message must
name the problem and the fix; anything else escaping is a bug in ganzoo.
"""


class GanzooError(Exception):
    """A user-facing error: one line, names the problem and what to do."""
