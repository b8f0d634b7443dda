"""RSS over many decodes per codec: a leak shows as growth after the warm-up.

    python benchmarks/leaks.py [--iterations 10000]

For each codec this build has, one real frame is decoded `iterations` times through
decode_frame, and its whole file `iterations // 10` times through decode(); RSS (from
/proc/self/statm) is printed after a warm-up and at the end.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import turbodicom
from turbodicom.frames import open_pixels

CORPUS = Path(os.environ.get("TURBODICOM_CORPUS",
                             Path(__file__).resolve().parents[2] / "shared" / "corpus"))
FILES = {
    "rle": "dicom-test-files/data/WG04/RLE/CT1_RLE",
    "ljpeg": "dicom-test-files/data/WG04/JPLL/CT1_JPLL",
    "j2k": "dicom-test-files/data/WG04/J2KR/MR1_J2KR",
    "htj2k": "DICOMHTJ2K/test/fixtures/htj2k/CT1_JPH",
    "jls": "dicom-test-files/data/WG04/JLSL/CT1_JLSL",
    "jls near-lossless": "dicom-test-files/data/WG04/JLSN/MR1_JLSN",
    "jpeg 8-bit YBR": "fo-dicom/Tests/FO-DICOM.Tests/Test Data/GH538-jpeg1.dcm",
    "jpeg 12-bit": "dicom-test-files/data/WG04/JPLY/MR1_JPLY",
}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(path: Path, iterations: int) -> tuple[float, float, float]:
    with open_pixels(str(path)) as px:
        m = px.module
        frame = bytes(px.frame(0))
    kw = dict(rows=m.rows, columns=m.columns, samples_per_pixel=m.samples_per_pixel,
              bits_allocated=m.bits_allocated, bits_stored=m.bits_stored,
              pixel_representation=m.pixel_representation,
              photometric_interpretation=m.photometric_interpretation)

    def one() -> None:
        turbodicom.decode_frame(frame, m.transfer_syntax_uid, **kw)

    for _ in range(200):
        one()
        turbodicom.decode(str(path))
    start = rss_mb()
    for i in range(iterations):
        one()
        if i % 10 == 0:
            turbodicom.decode(str(path))
    end = rss_mb()
    return start, end, end - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iterations", type=int, default=10000)
    args = ap.parse_args()
    print("| codec | file | decodes | RSS after warm-up (MB) | RSS at end (MB) | growth (MB) |")
    print("|---|---|---:|---:|---:|---:|")
    for codec, rel in FILES.items():
        path = CORPUS / rel
        if not path.is_file():
            continue
        try:
            start, end, growth = measure(path, args.iterations)
        except turbodicom.UnsupportedError:
            continue
        print(f"| {codec} | {rel.split('/')[-1]} | {args.iterations} | {start:.1f} | {end:.1f} "
              f"| {growth:+.1f} |")


if __name__ == "__main__":
    main()
