"""Damaged JPEG-LS frames that abort Debian's CharLS 2.4.1 in its own code.

Debian builds libcharls2 without NDEBUG, so the assert()s in CharLS's run-interruption decoding
(context_run_mode::compute_error_value: ``map == compute_map(-error_value_abs, k)``, which a
corrupt run-interruption sample can contradict; context_run_mode::get_golomb_code: ``k <= 32``,
which a corrupt run context can break) kill the process before turbodicom can check anything.
A CharLS built with NDEBUG (imagecodecs' and pyjpegls' builds) reports invalid encoded data
instead.  Found by csrc/fuzz/fuzz_jls (CharLS is the tests' oracle for JPEG-LS).
Each frame is decoded in a child process: it must finish with a turbodicom error or an array,
and the only other accepted outcome is that assert.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import turbodicom

ABORTS = Path(__file__).parent / "data" / "library-aborts"
#: (frame, the CharLS function whose assert it trips)
FRAMES = [(ABORTS / "jls-charls-2.4.1-compute_error_value-assert.jls", "compute_error_value"),
          (ABORTS / "jls-charls-2.4.1-get_golomb_code-assert.jls", "get_golomb_code")]

pytestmark = pytest.mark.skipif("jls" not in turbodicom.features()["codecs"],
                                reason="this build has no JPEG-LS codec")

CHILD = """
import sys, turbodicom
from turbodicom import _jls
data = open(sys.argv[1], "rb").read()
hdr = _jls.read_header(data)
try:
    turbodicom.decode_frame(data, "1.2.840.10008.1.2.4.80", rows=hdr["rows"],
                            columns=hdr["columns"], samples_per_pixel=hdr["components"],
                            bits_allocated=8 * hdr["bytes_per_sample"],
                            bits_stored=hdr["bits_per_sample"])
    print("array")
except turbodicom.TurboDicomError as exc:
    print("error", type(exc).__name__)
"""


@pytest.mark.parametrize("frame, function", FRAMES, ids=[f for _, f in FRAMES])
def test_damaged_run_interruption_sample(frame, function):
    proc = subprocess.run([sys.executable, "-c", CHILD, str(frame)], capture_output=True,
                          text=True, timeout=120)
    if proc.returncode == 0:
        assert proc.stdout.split()[0] in ("array", "error"), proc.stdout
    else:
        # the library's own assert, and nothing else, may end the child
        assert function in proc.stderr, proc.stderr[-2000:]
