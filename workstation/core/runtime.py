"""Process-wide numeric settings applied once when a front-end starts."""

from __future__ import annotations

import os
import sys


def disable_numpy_hugepages() -> None:
    """Stop numpy asking for transparent huge pages on big arrays in this process.

    Measured on the 512x512x400 benchmark (THP mode "madvise", 2-core VM): first touches
    of huge-page-backed arrays stall in the kernel; `workstation mesh` takes 3.5 s instead
    of 4.0 s on a quiet machine (3.9 s instead of 5.0-5.5 s under load), at the price of
    about 20 ms more for a plain 200 MB load.  Equivalent to NUMPY_MADVISE_HUGEPAGE=0.
    """
    if "numpy" not in sys.modules:
        # numpy reads this when it is imported: a command that never needs numpy (such as
        # ``workstation --help``) does not pay its import here.  Worker processes inherit it.
        os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
        return
    try:
        from numpy._core.multiarray import (  # type: ignore[attr-defined]
            _set_madvise_hugepage,
        )
    except ImportError:  # older or newer numpy without the switch
        return
    _set_madvise_hugepage(False)
