"""pytest-benchmark suite: turbodicom and every installed peer on the same real images.

Run with ``python -m pytest benchmarks --benchmark-columns=median,ops --benchmark-group-by=group``.
Workloads and peers are the ones ``turbodicom bench`` uses (turbodicom.bench), so the two
always measure the same thing.  Each benchmark records the decoded MB/s in ``extra_info``.
"""

from __future__ import annotations

import pytest

from turbodicom import bench


@pytest.fixture(scope="session")
def workloads(tmp_path_factory: pytest.TempPathFactory) -> list[bench.Workload]:
    return bench.default_workloads(tmpdir=str(tmp_path_factory.mktemp("workloads")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "workload_index" in metafunc.fixturenames:
        # Up to 8 workloads are built; ids are filled in by index.
        metafunc.parametrize("workload_index", range(8))
