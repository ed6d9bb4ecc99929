"""Process-wide set-up: the allocator settings glibc must accept."""

from __future__ import annotations

import platform

import pytest

from scoring.runtime import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_every_allocator_setting():
    assert allocator.keep_freed_memory()
