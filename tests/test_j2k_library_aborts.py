"""A damaged HTJ2K frame that aborts OpenJPEG 2.5.0 (Debian bookworm) in its own code.

OpenJPEG before 2.5.1 has an assert() in the HT decoder (ht_dec.c, mel_init) that a damaged
code-block can trip, killing the process before turbodicom can check anything; upstream
replaced it with an error in PR #1436 (OpenJPEG 2.5.1).  Found by csrc/fuzz/fuzz_j2k.
The frame is decoded in a child process: with a fixed OpenJPEG the child must finish with a
turbodicom error or an array; with an older one the only accepted failure is that abort.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import turbodicom

FRAME = Path(__file__).parent / "data" / "library-aborts" / \
    "htj2k-openjpeg-2.5.0-mel_init-assert.j2c"

pytestmark = pytest.mark.skipif("j2k" not in turbodicom.features()["codecs"],
                                reason="this build has no JPEG 2000 codec")

CHILD = """
import sys, turbodicom
from turbodicom import _j2k
data = open(sys.argv[1], "rb").read()
hdr = _j2k.read_header(data)
try:
    turbodicom.decode_frame(data, "1.2.840.10008.1.2.4.201", rows=hdr["rows"],
                            columns=hdr["columns"], samples_per_pixel=hdr["components"],
                            bits_allocated=8 * hdr["bytes_per_sample"],
                            bits_stored=hdr["precision"])
    print("array")
except turbodicom.TurboDicomError as exc:
    print("error", type(exc).__name__)
"""


def _openjpeg_version() -> tuple[int, ...]:
    from turbodicom import _j2k

    return tuple(int(x) for x in _j2k.backend_version().split(".")[:3])


def test_damaged_ht_codeblock():
    proc = subprocess.run([sys.executable, "-c", CHILD, str(FRAME)], capture_output=True,
                          text=True, timeout=120)
    if _openjpeg_version() >= (2, 5, 1):
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.split()[0] in ("array", "error"), proc.stdout
    else:
        # the library's own assert, and nothing else, may end the child
        assert proc.returncode == 0 or "mel_init" in proc.stderr, proc.stderr[-2000:]
