"""pytest-benchmark suite: turbodicom and every installed peer on the same real images.

Run with ``python -m pytest benchmarks --benchmark-columns=median,ops --benchmark-group-by=group``.
Workloads and peers are the ones ``turbodicom bench`` uses (turbodicom.bench), so the two
always measure the same thing.  Each benchmark records the decoded MB/s in ``extra_info``.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile

import pytest

from turbodicom import bench


@functools.lru_cache(maxsize=1)
def _workloads() -> list[bench.Workload]:
    tmp = tempfile.mkdtemp(prefix="turbodicom-benchmarks-")
    atexit.register(shutil.rmtree, tmp, True)
    return bench.default_workloads(tmpdir=tmp)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "workload" in metafunc.fixturenames:
        ws = _workloads()
        metafunc.parametrize("workload", ws, ids=[w.label for w in ws])
