"""``turbodicom bench``: every decoder in a worker of its own, the summary table, and a clear
message instead of a traceback when pydicom is missing.

The command is run for real (``python -m turbodicom bench`` in a subprocess).  Fake peers are
added the way an installed package would add one: an entry point in the groups
``turbodicom.bench.frame`` / ``turbodicom.bench.file`` of a distribution on ``PYTHONPATH``.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from turbodicom import bench

from conftest import pydicom_file

FAKE_PEERS = '''
import ctypes
import os
import time


def segfault(w):
    """A peer whose decoder dereferences NULL (SIGSEGV)."""
    return lambda: ctypes.string_at(0)


def abort(w):
    """A peer whose decoder aborts the process, as glibc does on a corrupted heap."""
    return lambda: os.abort()


def abort_later(w):
    """A peer that decodes once (turbodicom's output, so it agrees) and aborts on its second
    call, during the timing rounds."""
    import turbodicom
    calls = []

    def run():
        calls.append(1)
        if len(calls) > 1:
            os.abort()
        return turbodicom.decode(w.path)
    return run


def hang(w):
    """A peer that never returns."""
    return lambda: time.sleep(3600)


def raise_(w):
    """A peer that raises."""
    def run():
        raise ValueError("fake peer cannot decode this")
    return run


def not_this_one(w):
    """A peer that does not decode this workload: no row at all."""
    return None
'''

ENTRY_POINTS = """
[turbodicom.bench.frame]
fake segfault = fakepeers:segfault
fake hang = fakepeers:hang
fake never = fakepeers:not_this_one

[turbodicom.bench.file]
fake abort = fakepeers:abort
fake abort later = fakepeers:abort_later
fake raise = fakepeers:raise_
"""


def _env(extra_path: Path | None = None, corpus: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONWARNINGS="ignore", COLUMNS="200")
    if extra_path is not None:  # absolute paths: the command may run in another folder
        inherited = [str(Path(p).resolve())
                     for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path)] + inherited)
    if corpus is not None:
        env["TURBODICOM_CORPUS"] = str(corpus)
    return env


def _bench(*args: str, env: dict[str, str], cwd: Path | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "turbodicom", "bench", *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def _rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    """The detailed table's rows keyed by (level, decoder)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[2] in ("frame", "file"):
            rows[(cells[2], cells[3])] = cells
    return rows


@pytest.fixture(scope="module")
def fake_peer_run(tmp_path_factory):
    """One bench run on a small RLE file with the fake peers installed."""
    site = tmp_path_factory.mktemp("fakepeers")
    (site / "fakepeers.py").write_text(FAKE_PEERS)
    dist = site / "fakepeers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepeers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    path = pydicom_file("MR_small_RLE.dcm")
    proc = _bench(path, "--min-time", "0.05", "--peer-timeout", "4", env=_env(site))
    return proc


def test_crashing_and_hanging_peers_end_up_in_their_rows(fake_peer_run):
    proc = fake_peer_run
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    rows = _rows(proc.stdout)
    # under AddressSanitizer (.ci/sanitizers) a SIGSEGV is reported and turned into SIGABRT
    segv = "SIGABRT" if "libasan" in os.environ.get("LD_PRELOAD", "") else "SIGSEGV"
    expected = {("frame", "fake segfault"): ("crashed", segv),
                ("frame", "fake hang"): ("timed out", "after 4 s"),
                ("file", "fake abort"): ("crashed", "SIGABRT"),
                ("file", "fake abort later"): ("crashed", "SIGABRT"),
                ("file", "fake raise"): ("fails", "ValueError: fake peer cannot decode this")}
    for key, (status, note) in expected.items():
        assert key in rows, f"no row for {key}:\n{proc.stdout}"
        cells = rows[key]
        assert cells[4] == status, cells
        assert note in cells[6], cells
    assert ("frame", "fake never") not in rows
    # the real decoders were timed around them, turbodicom included
    for level in ("frame", "file"):
        mb_s = rows[(level, "turbodicom")][4]
        assert float(mb_s.replace(",", "")) > 0, rows[(level, "turbodicom")]
        assert rows[(level, "turbodicom")][6] == "yes"


def test_summary_table_comes_first_and_ignores_failed_peers(fake_peer_run):
    out = fake_peer_run.stdout
    head = out.index("| transfer syntax | level | files | turbodicom MB/s | fastest peer")
    assert head < out.index("| workload | transfer syntax | level | decoder |")
    summary = [ln for ln in out[head:].splitlines()[2:] if ln.startswith("| RLE Lossless")]
    assert [ln.split("|")[2].strip() for ln in summary] == ["frame", "file"]
    for ln in summary:
        assert "fake" not in ln, ln  # a crashed or failed peer is never the fastest
    assert re.search(r"Peers that failed somewhere.*fake abort crashed", out)
    assert "fake hang timed out" in out


def _result(workload: str, peer: str, mb_s: float, *, level: str = "frame",
            syntax: str = "RLE Lossless", agrees: bool | None = True, status: str = "ok",
            max_diff: int | None = None, td: float | None = None) -> bench.Result:
    ok = status == "ok"
    median = 1.0 / mb_s if ok else math.nan
    ratio = (td / mb_s) if (td and ok) else None
    return bench.Result(workload, syntax, level, peer, median, mb_s if ok else math.nan,
                        ratio, agrees if ok else None, 3 if ok else 0, "", status, max_diff)


def test_summarise_picks_the_peer_with_the_best_ratio_of_totals():
    rs = [_result("a", "turbodicom", 100.0), _result("b", "turbodicom", 400.0),
          _result("a", "p1", 50.0, td=100.0), _result("b", "p1", 400.0, td=400.0),  # 2x, 1x
          _result("a", "p2", 90.0, td=100.0), _result("b", "p2", 300.0, td=400.0),
          _result("a", "p3", 1000.0, td=100.0, agrees=False),  # fast but wrong
          _result("b", "p4", 0.0, status="crashed"),
          _result("a", "pydicom + turbodicom plugin", 500.0, td=100.0)]
    (row,) = bench.summarise(rs)
    # turbodicom: 2 MB in 1/100 + 1/400 s
    assert row.turbodicom_mb_s == pytest.approx(2 / (1 / 100 + 1 / 400))
    # each file is 1 MB: p1 takes 1/50 + 1/400 s, p2 1/90 + 1/300 s -> p2
    td = 2 / (1 / 100 + 1 / 400)
    assert row.best_peer == "p2"
    assert row.peer_mb_s == pytest.approx(2 / (1 / 90 + 1 / 300))
    assert row.ratio == pytest.approx(td / row.peer_mb_s)
    assert row.peer_files == 2 and row.files == 2
    assert "p4 crashed" in row.problems and "p3 disagrees" in row.problems


def test_summarise_accepts_rounding_only_where_decoders_may_round():
    jpeg = bench.SYNTAX_NAMES[bench.JPEG_BASELINE]
    jls = bench.SYNTAX_NAMES[bench.JLS_NEAR]
    for syntax, diff, counted in ((jpeg, 3, True), (jpeg, 200, False), (jls, 1, False)):
        rs = [_result("a", "turbodicom", 100.0, syntax=syntax),
              _result("a", "peer", 50.0, td=100.0, syntax=syntax, agrees=False,
                      max_diff=diff)]
        (row,) = bench.summarise(rs)
        assert (row.best_peer == "peer") is counted, (syntax, diff)


BLOCK_PYDICOM = '''
import importlib.abc
import sys


class _NoPydicom(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pydicom" or name.startswith("pydicom."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoPydicom())
'''


def test_quick_without_pydicom_says_which_extra_to_install(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(BLOCK_PYDICOM))
    env = _env(site, corpus=tmp_path / "no-corpus")
    check = subprocess.run([sys.executable, "-c", "import pydicom"], env=env,
                           capture_output=True, text=True)
    assert check.returncode != 0, "the blocker did not hide pydicom"
    proc = _bench("--quick", env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("turbodicom:")]
    assert len(errors) == 1, proc.stderr
    assert "pip install 'turbodicom[pydicom]'" in errors[0]
    assert proc.stdout == ""


def test_dicomsdl_on_rtdose_rle_stays_in_its_row():
    """dicomsdl corrupts its heap on pydicom's rtdose_rle.dcm (the crash of issue 12): whatever
    it does there ends up in its row, and the run goes on."""
    pytest.importorskip("dicomsdl")
    proc = _bench(pydicom_file("rtdose_rle.dcm"), pydicom_file("MR_small_RLE.dcm"),
                  "--level", "file", "--min-time", "0.05", env=_env())
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    rows = [ln for ln in proc.stdout.splitlines() if "| dicomsdl |" in ln]
    assert len(rows) == 2, proc.stdout
    rtdose = next(ln for ln in rows if "rtdose_rle.dcm" in ln)
    assert re.search(r"\| (fails|crashed) \|", rtdose), rtdose
    mr = next(ln for ln in rows if "MR_small_RLE.dcm" in ln)
    assert mr.rstrip(" |").endswith("yes"), mr  # the next file is timed as usual


@pytest.mark.parametrize("samples", [1, 3])
def test_frame_level_thread_row_only_where_a_frame_has_threads(tmp_path, samples):
    """`--threads 2` adds a frame-level "turbodicom (2 threads)" row for a JPEG 2000 frame
    large enough for threads inside it (gray or RGB), its output agreeing with one thread's,
    none for an RLE frame, which is decoded on one thread whatever it is asked."""
    ic = pytest.importorskip("imagecodecs")
    pytest.importorskip("pydicom")
    import numpy as np

    import dicom_factory as fac

    img = (np.arange(512 * 512 * samples, dtype=np.uint32) * 7 % 4096).reshape(512, 512, samples)
    img = img.astype(np.uint16) if samples == 1 else (img % 256).astype(np.uint8)
    img = img[..., 0] if samples == 1 else img
    enc = bytes(ic.jpeg2k_encode(img, level=0, codecformat="J2K", reversible=True))
    j2k = tmp_path / "j2k.dcm"
    j2k.write_bytes(fac.encapsulated_file([enc], transfer_syntax="1.2.840.10008.1.2.4.90",
                                          rows=512, columns=512,
                                          bits_allocated=16 if samples == 1 else 8,
                                          samples_per_pixel=samples,
                                          photometric="MONOCHROME2" if samples == 1 else "RGB",
                                          bits_stored=12 if samples == 1 else 8))
    for path, want in ((str(j2k), True), (pydicom_file("MR_small_RLE.dcm"), False)):
        proc = _bench(path, "--level", "frame", "--threads", "2", "--min-time", "0.05",
                      env=_env())
        assert proc.returncode == 0, proc.stderr
        rows = _rows(proc.stdout)
        assert ("frame", "turbodicom") in rows
        assert (("frame", "turbodicom (2 threads)") in rows) == want, proc.stdout
        if want:
            assert re.match(r"yes [0-9.]+x one thread$", rows[("frame", "turbodicom (2 threads)")][6]), \
                proc.stdout
