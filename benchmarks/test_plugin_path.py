"""The pydicom plugin path against ``turbodicom.decode``, per file.

Three ways to get one file's pixels, each starting from the path (so each includes reading
the file), grouped per workload:

* ``turbodicom.decode``: turbodicom's own API;
* ``pydicom + turbodicom``: ``pydicom.dcmread(path).pixel_array`` with turbodicom registered
  first (what a pydicom user gets after ``turbodicom.register()``);
* ``pydicom default``: the same call with turbodicom unregistered (pydicom's own plugins).

The gap between the first two is what pydicom's own machinery costs around the same kernels
(frame splitting in Python, a copy per frame into its array, numpy post-processing); the gap
between the last two is what ``register()`` buys.  Each run checks the arrays agree (within
the IDCT difference the lossy JPEG plugins are allowed) and records the decoded MB/s.

Run: ``python -m pytest benchmarks/test_plugin_path.py --benchmark-group-by=group
--benchmark-columns=median,ops``.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pydicom
import pytest

import turbodicom
from turbodicom import bench, pydicom_plugin

PATHS = ["turbodicom.decode", "pydicom + turbodicom", "pydicom default"]


def _pixel_array(path: str) -> np.ndarray:
    return pydicom.dcmread(path).pixel_array


@pytest.mark.parametrize("path_kind", PATHS)
def test_plugin_path(benchmark, workload, path_kind):
    w = workload
    if w.transfer_syntax_uid not in pydicom_plugin.DECODER_DEPENDENCIES:
        pytest.skip("native data: no decoding plugin involved")
    expected = turbodicom.decode(w.path)
    if path_kind == "turbodicom.decode":
        fn = lambda: turbodicom.decode(w.path)  # noqa: E731
    else:
        fn = lambda: _pixel_array(w.path)  # noqa: E731
    registered = path_kind == "pydicom + turbodicom"
    if registered:
        turbodicom.register()
    try:
        with contextlib.nullcontext() if registered else bench._turbodicom_unregistered():
            try:
                result = fn()
            except Exception as exc:  # noqa: BLE001 - pydicom's plugins refuse some files
                pytest.skip(f"{path_kind} fails on {w.label}: {type(exc).__name__}: {exc}")
            if not np.array_equal(result, expected):
                assert w.transfer_syntax_uid in bench.LOSSY_SYNTAXES, f"{path_kind} disagrees"
                assert result.shape == expected.shape
                benchmark.extra_info["max |diff|"] = int(
                    np.abs(result.astype(np.int64) - expected.astype(np.int64)).max())
            benchmark.group = f"plugin path: {w.label}"
            benchmark(fn)
    finally:
        if registered:
            turbodicom.unregister()
    stats = benchmark.stats.stats if benchmark.stats else None
    if stats is not None:
        benchmark.extra_info["MB/s"] = round(w.decoded_nbytes / stats.median / 1e6, 1)

