"""Layer 1. The process's heap: keep freed memory for reuse, so training steps do not page-fault.

glibc's malloc maps a block larger than its mmap threshold straight from the kernel and unmaps it when
freed, and gives the top of its heap back once more than its trim threshold is free there. Both
thresholds start small (128 KiB and 128 KiB) and only grow, to the size of the largest mapped block
freed so far (and twice that), once the process frees one. A training step allocates activations of a
few MiB (SpeedNet's first group at batch 128: 9 MiB per tensor) and frees them all at the end of the
backward pass, so in a process that has not yet freed a larger block every step maps those pages again
and the kernel faults and zeroes each one. Whether a run pays that depended on what its process did
before (loading a large dataset raises the thresholds; a small dataset or a fresh worker does not) and
on where its heap's top happened to land (the same ten steps of a small SpeedNet, each in a fresh
process, took anywhere from no page faults to 58,000: tests/test_execution.py). Measured side by side,
in a fresh process the fast recipe's step took 1.23x (fp32) and 1.29x (bf16) as long, with 19,000 and
12,000 page faults a step against none (benchmarks/bench_memory.py; Intel Xeon with AMX, 2 threads).

keep_freed_memory() sets both thresholds once, before the first step, so every process runs the same
way: blocks up to 32 MiB (glibc's ceiling for the mmap threshold on 64-bit) come from the heap, and up
to 1 GiB freed at its top stays mapped for the next step. Peak memory is unchanged; a process that
shrinks after its peak keeps up to that much. Where another allocator serves malloc (jemalloc or tcmalloc
put in front with LD_PRELOAD, which keep freed memory themselves) or the C library is not glibc (macOS,
musl), it does nothing and says so.
"""

from __future__ import annotations

import ctypes

HEAP_BLOCK_LIMIT = 32 << 20  # blocks up to this size come from the heap, not from their own mapping
KEPT_FREE_TOP = 1 << 30  # free memory at the heap's top kept mapped instead of returned to the kernel
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)

_in_force: str | None = None


class DlInfo(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]  # fmt: skip


def glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc (it has gnu_get_libc_version), else None."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt") else None


def preloaded_allocator(libc: ctypes.CDLL) -> str:
    """The file of the malloc this process calls when it is not glibc's own (jemalloc or tcmalloc put in
    front with LD_PRELOAD), else ''."""
    called = ctypes.cast(libc.malloc, ctypes.c_void_p).value
    info = DlInfo()
    if not hasattr(libc, "dladdr") or not libc.dladdr(ctypes.c_void_p(called), ctypes.byref(info)):
        return ""
    where = (info.fname or b"").decode(errors="replace")
    return "" if "libc.so" in where else where


def keep_freed_memory() -> str:
    """Set glibc's mmap and trim thresholds once in this process; returns what is in force (heap_setting)."""
    global _in_force
    if _in_force is None:
        libc = glibc()
        if libc is None:
            _in_force = "the C library's own (not glibc: thresholds left as they are)"
        elif other := preloaded_allocator(libc):
            _in_force = f"{other}'s own (preloaded in front of glibc's malloc: thresholds left to it)"
        elif libc.mallopt(M_MMAP_THRESHOLD, HEAP_BLOCK_LIMIT) and libc.mallopt(M_TRIM_THRESHOLD, KEPT_FREE_TOP):
            kept = f"{HEAP_BLOCK_LIMIT >> 20} MiB from the heap, {KEPT_FREE_TOP >> 30} GiB kept free"
            _in_force = f"glibc, blocks up to {kept}"
        else:
            _in_force = "glibc's own (mallopt refused the thresholds)"
    return _in_force


def heap_setting() -> str:
    """What keep_freed_memory set in this process, or that nothing has yet (glibc's moving thresholds)."""
    return _in_force or "the C library's default (not yet set in this process)"
