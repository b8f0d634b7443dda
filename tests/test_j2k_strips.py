"""The JPEG 2000 decoder's strip path (csrc/j2k/decode.c, strip_plan / strip_decode).

A tile whose components share one geometry synthesises its highest decoded level a strip of
code-block rows at a time (the LL band of that level in a full buffer, or in the output buffer
for 8-bit samples) instead of holding every coefficient.  The environment variable
TURBODICOM_J2K_STRIPS picks the path for tests: 0 the whole-tile path, 1 strips whenever the
geometry allows (also for short tiles), 2 strips but never the LL band in the output buffer.
Every path must give the same bits: reversible ones the encoder's input, irreversible ones
what the whole-tile path gives; over short and odd strips (image and tile origins, code-block
heights 4..64, precincts smaller than code-blocks), reduce, layers, truncated streams, 1, 2 and
4 threads (on 2 every strip's VER_SR goes by column ranges, on more only the last two strips'),
1 and 3 components, 8 to 16 bits, 5-3 and 9-7.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import j2k_streams as js

pytest.importorskip("turbodicom._j2kdec", reason="this build has no _j2kdec")

from turbodicom import j2k  # noqa: E402

if js.OPJ_COMPRESS is None:
    pytest.skip("opj_compress (Debian libopenjp2-tools) encodes the cases", allow_module_level=True)

# (rows, cols, components, bits, opj_compress arguments)
CASES = [
    (200, 152, 3, 8, "-b 16,16 -n 3"),
    (131, 97, 3, 8, "-b 4,4 -n 2 -d 3,5"),
    (257, 129, 1, 8, "-b 64,64 -n 4"),
    (190, 170, 1, 16, "-b 32,32 -n 3 -t 96,80 -T 1,3 -d 5,7"),
    (160, 200, 3, 8, "-b 32,16 -c [32,32],[16,16] -n 3"),
    (143, 121, 3, 8, "-I -b 16,32 -n 3 -d 1,1"),
    (150, 96, 3, 16, "-b 32,32 -n 2"),
    (177, 64, 1, 12, "-I -b 64,16 -n 5 -d 3,0"),
    (120, 136, 3, 8, "-b 16,16 -c [8,8],[8,8],[8,8] -n 3 -d 0,1"),
    (130, 90, 1, 8, "-I -b 32,32 -c [16,16],[8,8] -n 3 -d 0,1"),
    (96, 96, 3, 8, "-b 64,64 -n 2 -t 48,48 -T 7,11 -d 9,13"),
    (300, 77, 1, 8, "-I -b 4,64 -n 4 -d 0,3"),
    (111, 333, 3, 10, "-b 16,4 -n 3 -mct 0"),
    # large enough for two threads to share the strips (and two strip buffers)
    (400, 360, 3, 8, "-b 32,32 -n 3 -d 1,0"),
    (384, 512, 1, 16, "-I -b 64,16 -n 4"),
    # wide enough for VER_SR in several column ranges (decode.c VER_MIN: 512 columns at least)
    (136, 1100, 1, 8, "-b 32,32 -n 3 -d 3,0"),
    (130, 1537, 3, 8, "-I -b 64,16 -n 2 -d 1,1"),
    # the last two strips' VER_SR on two threads: in 4 ranges of 512 columns or more (one phase
    # per strip, not per range), and too narrow for halves (the last strip's sweep then waits
    # for the one before without a carry between them)
    (136, 2100, 1, 8, "-b 16,16 -n 2"),
    (2800, 24, 1, 8, "-I -b 16,16 -n 2 -d 0,1"),
    # 1M samples or more: the whole-tile path's DWT on 2-4 threads (dwt.c dwt_team: a thread
    # per 512K samples at most), its rows in the output buffer (one component) or not (three)
    (600, 1800, 1, 16, "-I -b 64,64 -n 3 -d 1,0"),
    (400, 900, 3, 8, "-b 32,32 -n 3"),
]
IDS = [f"{r}x{c}x{n}_{b}b_{a.replace(' ', '')}" for r, c, n, b, a in CASES]


def _decode(stream: bytes, mode: str | None, **kw) -> np.ndarray:
    old = os.environ.get("TURBODICOM_J2K_STRIPS")
    if mode is None:
        os.environ.pop("TURBODICOM_J2K_STRIPS", None)
    else:
        os.environ["TURBODICOM_J2K_STRIPS"] = mode
    try:
        return j2k.decode(stream, **kw)
    finally:
        if old is None:
            os.environ.pop("TURBODICOM_J2K_STRIPS", None)
        else:
            os.environ["TURBODICOM_J2K_STRIPS"] = old


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def case(request):
    rows, cols, ncomp, bits, args = request.param
    comps = js.components(rows, cols, ncomp, bits, False, rows + cols)
    stream = js.opj_compress(comps, bits, False, args.split())
    return stream, comps, args


def _levels(args: str) -> int:
    a = args.split()
    return int(a[a.index("-n") + 1]) - 1


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_paths_agree(case, threads):
    stream, comps, args = case
    for reduce in range(min(3, _levels(args)) + 1):
        whole = _decode(stream, "0", reduce=reduce, threads=threads)
        if reduce == 0 and "-I" not in args:
            assert np.array_equal(whole, js.interleave(comps))
        for mode in ("1", "2", None):
            got = _decode(stream, mode, reduce=reduce, threads=threads)
            assert got.dtype == whole.dtype and got.shape == whole.shape
            assert np.array_equal(got, whole), (mode, reduce)


def test_layers_and_truncation():
    comps = js.components(180, 140, 3, 8, False, 5)
    stream = js.opj_compress(comps, 8, False, ["-b", "16,16", "-n", "3", "-r", "40,10,1"])
    for kw in ({"layers": 1}, {"layers": 2}, {}):
        whole = _decode(stream, "0", **kw)
        for mode in ("1", "2"):
            assert np.array_equal(_decode(stream, mode, **kw), whole)
    for cut in (len(stream) // 5, len(stream) // 2, len(stream) - 7):
        whole = _decode(stream[:cut], "0")
        for mode in ("1", "2"):
            for threads in (1, 2):
                assert np.array_equal(_decode(stream[:cut], mode, threads=threads), whole)


def test_ht_strips():
    ic = pytest.importorskip("imagecodecs")
    if not getattr(ic, "HTJ2K", None) or not ic.HTJ2K.available:
        pytest.skip("imagecodecs has no HTJ2K encoder")
    img = np.stack(js.components(161, 203, 3, 8, False, 3), axis=-1)
    stream = ic.htj2k_encode(img)
    for threads in (1, 2):
        for mode in ("0", "1", "2", None):
            assert np.array_equal(_decode(stream, mode, threads=threads), img)
