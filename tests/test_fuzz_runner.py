"""csrc/fuzz/run.py, the driver CI runs the fuzz targets with: it starts, and what it prints of a
failed target names the cause and the innermost frames (a CI log keeps only what it prints)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "csrc" / "fuzz" / "run.py"


def _run_module():
    spec = importlib.util.spec_from_file_location("td_fuzz_run", RUN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_driver_starts():
    proc = subprocess.run([sys.executable, str(RUN), "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--seconds" in proc.stdout and "--only" in proc.stdout


def test_crash_report_keeps_the_cause_and_the_innermost_frames():
    mod = _run_module()
    noise = [f"#{i}\tNEW    cov: {i} ft: {i} corp: {i}" for i in range(300)]
    report = ["==7==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1",
              "WRITE of size 3 at 0x1 thread T0"]
    frames = [f"    #{i} 0x{i:x} in frame_{i} /src/file.c:{i}" for i in range(60)]
    stats = ["SUMMARY: AddressSanitizer: heap-buffer-overflow", "stat::number_of_executed_units: 9"]
    text = mod._crash_report("\n".join(noise + report + frames + stats))
    assert text.startswith(report[0])
    assert "frame_0 " in text and "frame_30 " in text  # the innermost frames
    assert text.rstrip().endswith(stats[-1])  # and the end: the artifact and the stats
    assert "NEW    cov" not in text
    assert len(text) < 6000
    # a failed assertion inside a library is a cause too
    text = mod._crash_report("\n".join(noise + ["x: charls.h:42: f(): Assertion `k <= 32' failed."]
                                       + frames))
    assert text.startswith("x: charls.h:42") and "frame_0 " in text
    # nothing recognisable: the tail, as before
    assert mod._crash_report("\n".join(noise)) == "\n".join(noise)[-3000:]
