"""A recording that is still arriving, read as a file: what a live session's decoder reads while the
browser's chunks come in, in memory.

The writer appends chunks and, at the end, `finish()`es; the reader (PyAV's demuxer) blocks until
there are bytes to read, and sees the end of the file only after `finish()`. `abort()` ends a
session early: the reader gets an error at once, so its decode stops instead of waiting. How long
a silent client is waited for is the writer's to decide (the socket's idle limit), not the reader's.
Nothing is written to disk; at most `max_bytes` are ever held.
"""

from __future__ import annotations

import io
import threading

from scoring.errors import Code, ServiceError


class StreamAborted(OSError):
    """The session ended before its recording did."""


class GrowingStream(io.RawIOBase):
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._data = bytearray()
        self._position = 0
        self._finished = False
        self._aborted = False
        self._changed = threading.Condition()

    @property
    def received(self) -> int:
        return len(self._data)

    def append(self, chunk: bytes) -> None:
        """Another piece of the recording; 413 past `max_bytes`."""
        with self._changed:
            if self._finished or self._aborted:
                raise ServiceError(Code.BAD_REQUEST, "the recording has already ended")
            if len(self._data) + len(chunk) > self.max_bytes:
                raise ServiceError(Code.FILE_TOO_LARGE, f"the recording exceeds the limit of {self.max_bytes / 1024 / 1024:g} MB")
            self._data += chunk
            self._changed.notify_all()

    def finish(self) -> None:
        """No more bytes: the reader reaches the end of the file."""
        with self._changed:
            self._finished = True
            self._changed.notify_all()

    def abort(self) -> None:
        with self._changed:
            self._aborted = True
            self._changed.notify_all()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._aborted or self._finished or self._position < len(self._data))
            if self._aborted:
                raise StreamAborted("the live recording ended before its last chunk")
            count = min(len(buffer), len(self._data) - self._position)
            buffer[:count] = self._data[self._position : self._position + count]
            self._position += count
            return count

