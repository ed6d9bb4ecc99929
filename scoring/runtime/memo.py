"""Results remembered by the content of their input, within one live recording: work done while it
arrived, found again when its verdict asks for the same frame or face.

A network's answer for one input is a function of that input's content alone, once every pass it
runs in has the same size: the kernels torch picks depend on the batch's size (MTCNN's boxes moved by
up to 6e-5 px and CLIP's logits by 2e-6 between one frame or face and sixteen), but within passes of
one size an input's answer does not depend on the inputs beside it or its place among them
(tests/test_work_ahead.py checks SyncNet's two streams). So inputs are computed alone (`each`) or in
passes of a fixed size, the last one filled up with repeats (`each_in_passes`); a result is keyed by
a digest of the array it was computed from, and whenever it was computed, the verdict reads the same
number.

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

MISSING = object()  # what `ContentMemo.recall` gives for an input it does not hold
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

    def recall(self, key: tuple[Hashable, bytes]) -> Any:
        """The result kept under `key`, or MISSING."""
        with self._lock:
            return self._results.get(key, MISSING)

    def keep(self, key: tuple[Hashable, bytes], result: Any) -> Any:
        """Keeps `result` under `key` unless one is kept there already (two threads may compute one
        input, and agree); returns the one kept."""
        with self._lock:
            return self._results.setdefault(key, result)

    def knows(self, x: np.ndarray, scope: Hashable) -> bool:
        return self.recall((scope, digest(x))) is not MISSING

    def __len__(self) -> int:
        return len(self._results)


@contextmanager
def remembering(memo: ContentMemo) -> Iterator[ContentMemo]:
    """`each`, `each_in_passes` and `known` in this context (and the contexts copied from it) use `memo`."""
    token = _CURRENT.set(memo)
    try:
        yield memo
    finally:
        _CURRENT.reset(token)


def each(inputs: Sequence[np.ndarray], compute: Callable[[np.ndarray], Any], scope: Hashable = None) -> list:
    """`compute(x)` for every x, each computed alone, or found in the session's memory."""
    return each_in_passes(inputs, lambda batch: [compute(batch[0])], 1, scope)


def each_in_passes(
    inputs: Sequence, compute: Callable[[list], Sequence], size: int, scope: Hashable = None, contents: Sequence[np.ndarray] | None = None
) -> list:
    """The result for every input, found in the session's memory or computed by `compute(batch)`
    (a list of exactly `size` inputs, the last pass filled up with repeats of its last input, giving
    one result per input). Inputs are remembered by their content, or by `contents[i]` where given:
    an array that determines what input i is computed from (a crop's frame index and geometry)."""
    memo = _CURRENT.get()
    contents = inputs if contents is None else contents
    keys = [(scope, digest(x)) for x in contents] if memo is not None else [None] * len(inputs)
    results = [MISSING if memo is None else memo.recall(key) for key in keys]
    missing = [i for i, result in enumerate(results) if result is MISSING]
    if memo is not None:  # an input met twice is computed once
        first_of = {}
        missing = [first_of.setdefault(keys[i], i) for i in missing if keys[i] not in first_of]
    for first in range(0, len(missing), size):
        chosen = missing[first : first + size]
        batch = [inputs[i] for i in chosen]
        computed = compute(batch + [batch[-1]] * (size - len(batch)))
        for i, result in zip(chosen, computed[: len(chosen)], strict=True):
            results[i] = result if memo is None else memo.keep(keys[i], result)
    if memo is not None:
        results = [memo.recall(key) if result is MISSING else result for key, result in zip(keys, results, strict=True)]
    return results


def known(x: np.ndarray, scope: Hashable = None) -> bool:
    """Whether the session's memory holds the result for `x` (never, outside a session)."""
    memo = _CURRENT.get()
    return memo is not None and memo.knows(x, scope)
