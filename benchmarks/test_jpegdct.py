"""Frame-level decode of the corpus' JPEG Extended (12-bit) frames: our DCT kernel
(turbodicom._jpeg) vs libjpeg-turbo 3 through imagecodecs, one core, side by side.

Run with ``python -m pytest benchmarks/test_jpegdct.py --benchmark-group-by=group
--benchmark-columns=median,ops``.  Both sides allocate a fresh output per call (imagecodecs
returns a new array; we decode into a new bytearray), so the comparison is like for like.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

imagecodecs = pytest.importorskip("imagecodecs")
_jpeg = pytest.importorskip("turbodicom._jpeg")

CORPUS = Path(os.environ.get("TURBODICOM_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "corpus")
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"


def _frames() -> list[tuple[str, bytes]]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        return []
    from turbodicom.frames import open_pixels

    out = []
    with open(CORPUS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["transfer_syntax_uid"] != JPEG_EXTENDED:
                continue
            with open_pixels(str(CORPUS / row["path"])) as px:
                frame = bytes(px.frame(0))
            if _jpeg.dct_read_header(frame)["precision"] == 12:
                out.append((Path(row["path"]).name, frame))
    return out


FRAMES = _frames()


@pytest.mark.skipif(not FRAMES, reason=f"no 12-bit JPEG Extended frames under {CORPUS}")
@pytest.mark.parametrize("peer", ["turbodicom", "imagecodecs"])
@pytest.mark.parametrize("index", range(len(FRAMES)), ids=[name for name, _ in FRAMES])
def test_jpegdct_frame_decode(benchmark, index, peer):
    name, frame = FRAMES[index]
    h = _jpeg.dct_read_header(frame)
    nbytes = h["rows"] * h["columns"] * h["components"] * 2
    if peer == "turbodicom":
        def fn():
            out = bytearray(nbytes)
            _jpeg.dct_decode_into(frame, out, bytes_per_sample=2)
            return out
    else:
        def fn():
            return imagecodecs.jpeg8_decode(frame)
    benchmark.group = f"jpegdct frame: {name}"
    benchmark(fn)
    stats = benchmark.stats.stats if benchmark.stats else None
    if stats is not None:
        benchmark.extra_info["MB/s"] = round(nbytes / stats.median / 1e6, 1)
