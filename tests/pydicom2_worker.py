"""Compute pydicom 2's own ``pixel_array`` for many files, each in a forked child.

Used by test_pydicom2.py as the oracle: pydicom 2.4's GDCM handler crashes the process on
some corpus files (heap corruption, segfaults), so each file is decoded in a child of its own
and a crash only loses that file's reference.

Usage: ``python pydicom2_worker.py OUTDIR PATH...``; writes ``OUTDIR/<i>.npy`` (the array),
``<i>.err`` (the exception pydicom raised) or ``<i>.crash`` (the signal that killed it).
"""

from __future__ import annotations

import os
import sys
import warnings


def _one(path: str, stem: str) -> None:
    import numpy as np
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            arr = pydicom.dcmread(path, force=True).pixel_array
        except Exception as exc:  # noqa: BLE001 - recorded for the test to read
            with open(stem + ".err", "w") as f:
                f.write(f"{type(exc).__name__}: {exc}")
            return
    np.save(stem + ".npy", arr, allow_pickle=False)


def main(outdir: str, paths: list[str]) -> None:
    import numpy  # noqa: F401 - imported once, before forking
    import pydicom.pixel_data_handlers.gdcm_handler  # noqa: F401

    for i, path in enumerate(paths):
        stem = os.path.join(outdir, str(i))
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                _one(path, stem)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status:
            with open(stem + ".crash", "w") as f:
                f.write(f"wait status {status}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
