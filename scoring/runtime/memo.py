"""Results remembered by the content of their input, within one live recording: work done while it
arrived, found again when its verdict asks for the same frame or face.

A network's answer for one input is a function of that input's pixels alone, once each input is
computed on its own (in a batch, the kernels torch picks depend on the batch's size: MTCNN's boxes
moved by up to 6e-5 px and CLIP's logits by 2e-6 between one frame or face and sixteen). So a result
is keyed by a digest of the array it was computed from, and whenever it was computed, the verdict
reads the same number.

The memory belongs to one session (`remembering(memo)` around its work, a context variable, so it
follows the session's threads and no other request's): a request never finds another's results,
so no one can tell from an answer's speed whether someone else sent the same video. Outside a
session `each` just computes.
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

_CURRENT: contextvars.ContextVar[ContentMemo | None] = contextvars.ContextVar("remembered", default=None)


def digest(array: np.ndarray) -> bytes:
    """The identity of an array's content: its shape, type and bytes."""
    contiguous = np.ascontiguousarray(array)
    summary = hashlib.blake2b(digest_size=16)
    summary.update(repr((contiguous.shape, contiguous.dtype.str)).encode())
    summary.update(contiguous.data)
    return summary.digest()


class ContentMemo:
    """One session's results by (scope, content of the input); thread-safe."""

    def __init__(self):
        self._results: dict[tuple[Hashable, bytes], Any] = {}
        self._lock = threading.Lock()

    def result(self, x: np.ndarray, compute: Callable[[np.ndarray], Any], scope: Hashable) -> Any:
        key = (scope, digest(x))
        with self._lock:
            if key in self._results:
                return self._results[key]
        found = compute(x)  # outside the lock: two threads may compute one input, and agree
        with self._lock:
            return self._results.setdefault(key, found)

    def knows(self, x: np.ndarray, scope: Hashable) -> bool:
        with self._lock:
            return (scope, digest(x)) in self._results

    def __len__(self) -> int:
        return len(self._results)


@contextmanager
def remembering(memo: ContentMemo) -> Iterator[ContentMemo]:
    """`each` and `known` in this context (and the contexts copied from it) use `memo`."""
    token = _CURRENT.set(memo)
    try:
        yield memo
    finally:
        _CURRENT.reset(token)


def each(inputs: Sequence[np.ndarray], compute: Callable[[np.ndarray], Any], scope: Hashable = None) -> list:
    """`compute(x)` for every x, each computed alone, or found in the session's memory."""
    memo = _CURRENT.get()
    if memo is None:
        return [compute(x) for x in inputs]
    return [memo.result(x, compute, scope) for x in inputs]


def known(x: np.ndarray, scope: Hashable = None) -> bool:
    """Whether the session's memory holds the result for `x` (never, outside a session)."""
    memo = _CURRENT.get()
    return memo is not None and memo.knows(x, scope)
