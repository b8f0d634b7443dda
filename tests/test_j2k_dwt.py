"""The inverse DWT's work sharing (csrc/j2k/dwt.c) gives the same bits on any number of threads.

HOR_SR moves each row to its interleaved place by following the cycles of that row
permutation; when threads share a level, a cycle longer than a work item's share is cut into
segments whose last rows wait in carry rows until VER_SR.  The shapes here make those cuts
happen (a height whose permutation has one long cycle, wide rows so that work items are a few
rows each, even and odd grid origins): the decode on 2-4 threads must equal the decode on one
(which follows whole cycles), for 5/3 (also equal to the source) and 9/7, at reduce 0 and 1.
"""

from __future__ import annotations

import numpy as np
import pytest

import j2k_streams as js

j2k = pytest.importorskip("turbodicom.j2k", reason="this build has no _j2kdec")

# 67 rows: at 2-4 threads the full-size level's single 66-row cycle and the next level's
# (34 or 33 rows) are cut into segments; 4096 columns make the HOR_SR items 5-9 rows.
ROWS, COLS = 67, 4096


@pytest.mark.skipif(js.OPJ_COMPRESS is None, reason="opj_compress not installed")
@pytest.mark.parametrize("origin", ["0,0", "1,1"])
@pytest.mark.parametrize("wavelet", ["53", "97"])
def test_threads_give_the_same_bits(origin, wavelet):
    comps = js.components(ROWS, COLS, 1, 12, False, seed=11)
    args = ["-n", "4", "-d", origin] + (["-I", "-r", "8"] if wavelet == "97" else [])
    cs = js.opj_compress(comps, 12, False, args)
    for reduce in (0, 1):
        one = np.asarray(j2k.decode(cs, reduce=reduce, threads=1))
        if wavelet == "53" and reduce == 0:
            np.testing.assert_array_equal(one, comps[0])
        for threads in (2, 3, 4):
            many = np.asarray(j2k.decode(cs, reduce=reduce, threads=threads))
            assert np.array_equal(one, many), (reduce, threads)
