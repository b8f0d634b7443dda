"""valgrind memcheck over one real file per codec: no invalid access, no definite leak.

    python benchmarks/memcheck.py [--codecs rle,jpeg ...]

Each file of benchmarks/leaks.py's list is decoded once, whole (``turbodicom.decode``) and
frame by frame (``decode_frame``), in a child interpreter under ``valgrind --tool=memcheck``
with ``PYTHONMALLOC=malloc``.  An error counts when its stack passes through turbodicom's
extensions or a codec library (libjpeg, OpenJPEG, CharLS); reports from the interpreter's and
numpy's start-up are listed apart.  Exits non-zero if any codec had a counted error.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from leaks import CORPUS, FILES  # noqa: E402

CHILD = """
import sys, turbodicom
from turbodicom.frames import open_pixels
path = sys.argv[1]
turbodicom.decode(path)
with open_pixels(path) as px:
    m = px.module
    frame = bytes(px.frame(0))
turbodicom.decode_frame(frame, m.transfer_syntax_uid, rows=m.rows, columns=m.columns,
                        samples_per_pixel=m.samples_per_pixel, bits_allocated=m.bits_allocated,
                        bits_stored=m.bits_stored, pixel_representation=m.pixel_representation,
                        photometric_interpretation=m.photometric_interpretation)
"""

#: stack frames that make an error ours (or our codec libraries')
OURS = re.compile(r"turbodicom|td_[a-z0-9_]+|_rle|_ljpeg|_jpeg|_j2k|_jls|libjpeg|libturbojpeg|"
                  r"openjp2|opj_|charls", re.I)


def run(codec: str, path: Path) -> tuple[int, int, str]:
    """(our errors, other errors, log excerpt) for one file."""
    with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as log:
        log_path = log.name
    env = dict(os.environ, PYTHONMALLOC="malloc")
    proc = subprocess.run(["valgrind", "--tool=memcheck", "--leak-check=full",
                    "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
                    "--num-callers=30", f"--log-file={log_path}", sys.executable, "-c", CHILD,
                    str(path)], env=env, capture_output=True, text=True, timeout=3600)
    text = Path(log_path).read_text(errors="replace")
    os.unlink(log_path)
    if proc.returncode != 0:
        raise RuntimeError(f"{codec}: the child failed under valgrind:\n{proc.stderr[-2000:]}")
    blocks = re.split(r"\n==\d+== \n", text)
    ours = other = 0
    excerpt = []
    for block in blocks:
        if not re.search(r"Invalid (read|write)|uninitialised|Conditional jump|definitely lost|"
                         r"Mismatched free|Invalid free", block):
            continue
        if "definitely lost: 0 bytes" in block and "in 0 blocks" in block:
            continue
        if OURS.search(block):
            ours += 1
            excerpt.append(block[:1500])
        else:
            other += 1
    return ours, other, "\n".join(excerpt)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--codecs", default="", help="comma-separated subset of leaks.FILES")
    args = ap.parse_args()
    import turbodicom

    print("| codec | file | errors in turbodicom or its codec library | other reports |")
    print("|---|---|---:|---:|")
    failed = False
    for codec, rel in FILES.items():
        if args.codecs and codec not in args.codecs.split(","):
            continue
        path = CORPUS / rel
        if not path.is_file():
            continue
        try:
            turbodicom.decode(str(path))
        except turbodicom.UnsupportedError:
            continue  # this build lacks the codec
        ours, other, excerpt = run(codec, path)
        print(f"| {codec} | {rel.split('/')[-1]} | {ours} | {other} |", flush=True)
        if ours:
            failed = True
            print(excerpt)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
