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
# (34 or 33 rows) are cut into segments; 32768 columns make the HOR_SR items a row or two, and
# enough samples (2.2M, 557K at reduce 1) for the DWT to go on 2-4 threads (one per 512K
# samples at most: dwt.c, dwt_team).
ROWS, COLS = 67, 32768


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


# HOR_SR's edges (csrc/j2k/dwt.c hor_in / hor_out, the first and last lifting steps read the
# row and write the interleaved result without padding, the vector kernels' tails): a tile
# `width` samples wide, at an even or an odd origin (low-pass at parity 0 or 1 on every level,
# rows of 1, 2, 3, ... samples on the lower levels), must decode as OpenJPEG decodes it, at each
# reduce.  The tile sits right of a 64-wide one (at an even origin) or a 62-wide one (tiles of 63
# from an image origin of 1,1: odd), as opj_compress sizes the levels by the tile size.
EDGE_WIDTHS = (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33)


def _openjpeg(cs: bytes, reduce: int) -> list[np.ndarray]:
    """The system OpenJPEG's decode through glymur, per component."""
    import shutil
    import tempfile
    from pathlib import Path

    import j2k_conformance as jc

    glymur = pytest.importorskip("glymur", reason="glymur (the system OpenJPEG) is the oracle")
    tmp = Path(tempfile.mkdtemp(prefix="turbodicom-dwt-oracle-"))
    try:
        path = tmp / "stream.j2k"
        path.write_bytes(cs)
        return jc.components(glymur.Jp2k(str(path)).read_bands(rlevel=reduce))
    finally:
        shutil.rmtree(tmp, True)


@pytest.mark.skipif(js.OPJ_COMPRESS is None, reason="opj_compress not installed")
@pytest.mark.parametrize("odd", [False, True], ids=["even", "odd"])
@pytest.mark.parametrize("wavelet", ["53", "97"])
@pytest.mark.parametrize("width", EDGE_WIDTHS)
def test_row_edges_match_openjpeg(width, wavelet, odd):
    import j2k_conformance as jc

    if width == 1 and odd and wavelet == "97":
        pytest.skip("opj_compress asserts on a one-sample 9/7 line")
    tile = 63 if odd else 64
    rows, cols = 19, (62 if odd else 64) + width
    comps = js.components(rows, cols, 1, 12, True, seed=width)
    args = ["-n", "5", "-t", f"{tile},{tile}"] + (["-d", "1,1"] if odd else [])
    if wavelet == "97":
        args += ["-I", "-r", "4"]
    cs = js.opj_compress(comps, 12, True, args)
    for reduce in (0, 1, 2):
        ours = jc.components(j2k.decode(cs, reduce=reduce, threads=1))
        ref = _openjpeg(cs, reduce)
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            np.testing.assert_array_equal(a, b, err_msg=f"reduce {reduce}")
        if wavelet == "53" and reduce == 0:
            np.testing.assert_array_equal(ours[0], comps[0])
