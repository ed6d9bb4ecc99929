"""glibc's malloc set to keep the memory a request frees for the next one.

The service's entry points (gunicorn_config.py, `python app.py`, the queue worker, the CLIs) call
`keep_freed_memory()` first thing, before any thread allocates.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# glibc's mallopt parameters (malloc.h) and our values: one arena, blocks up to 32 MB (the most glibc
# accepts at run time) from the heap, and up to 1 GB of freed heap kept.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
ALLOCATOR_SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, 32 * 2**20), (M_TRIM_THRESHOLD, 2**30))


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep the memory a request frees for the next one; False where there is no glibc.

    A request allocates and frees a few hundred MB of tensors. By default glibc hands blocks over
    128 KB (a threshold it raises only as such blocks are freed) back to the kernel and trims its
    heap, and threads allocate from arenas of their own that trim apart from the main one, so every
    request page-faulted its memory in again: 100,000-180,000 faults per request for a 10 s clip,
    most of them in the request thread's EfficientNet and MTCNN. With one arena, blocks up to 32 MB
    from the heap and a 1 GB trim threshold, a gunicorn worker takes 30 faults per request once its
    heap has grown to the working size (with the classifier's batches of 8, whose activations stay
    under 32 MB); the request went from 2.5-2.7 s to 1.9-2.4 s, and the resident size did not grow.
    Call it before any thread allocates: the arena limit only holds for arenas not yet made.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all(mallopt(param, value) == 1 for param, value in ALLOCATOR_SETTINGS)
