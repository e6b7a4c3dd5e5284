"""The exceptions portmortem raises, in a module of their own so that they
pickle: an error raised in a worker process (multiprocessing, joblib,
Dask, a Spark executor) reaches the caller's ``except`` as itself.

A path that is not there raises the built-in :class:`FileNotFoundError`
(an :class:`OSError`), as :func:`open` does; a value that is no capture
at all, or a capture that cannot be opened, raises :class:`CaptureError`.
A capture that breaks part-way raises nothing: its document keeps what
was read, with the error in ``captures[0]["error"]``.
"""

__all__ = ["PortmortemError", "CaptureError", "MergeError"]


class PortmortemError(ValueError):
    """Every error of portmortem's own (a :class:`ValueError`)."""

    def __reduce__(self):
        return (type(self), self.args)


class CaptureError(PortmortemError):
    """A capture could not be read: the message names the file and the
    byte offset; ``path``, ``offset`` (in the decompressed stream for a
    compressed file) and ``frames_read`` say the same as data."""

    def __init__(self, message, path=None, offset=None, frames_read=0):
        super().__init__(message)
        self.path = path
        self.offset = offset
        self.frames_read = frames_read

    def __reduce__(self):
        return (type(self), (self.args[0], self.path, self.offset, self.frames_read))


class MergeError(PortmortemError):
    """Records could not be merged: a line that is not a record, the same
    file twice, an output cut short."""
