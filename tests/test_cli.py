"""The command line: ``python -m turbodicom info | decode | bench``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import turbodicom

import dicom_factory as fac
from conftest import pydicom_file


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "turbodicom", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\n" \
                                 f"stderr:\n{proc.stderr}"
    return proc


def test_version():
    proc = _ok(run("--version"))
    assert turbodicom.__version__ in proc.stdout


def test_info_lists_version_and_every_transfer_syntax():
    proc = _ok(run("info"))
    assert turbodicom.__version__ in proc.stdout
    for uid in turbodicom.features()["decode"]:
        assert uid in proc.stdout, f"info does not mention {uid}"


def test_info_json_is_features():
    info = json.loads(_ok(run("info", "--json")).stdout)
    assert info["version"] == turbodicom.__version__
    assert info["features"] == json.loads(json.dumps(turbodicom.features()))


@pytest.mark.parametrize("name,index", [
    ("MR_small_RLE.dcm", None), ("SC_rgb_rle_2frame.dcm", None), ("SC_rgb_rle_2frame.dcm", 1),
    ("rtdose_rle.dcm", 14), ("MR_small_bigendian.dcm", None), ("image_dfl.dcm", None),
])
def test_decode_writes_the_same_array(name, index, tmp_path):
    path = pydicom_file(name)
    out = tmp_path / "out.npy"
    args = ["decode", path, "-o", str(out)]
    if index is not None:
        args += ["--index", str(index)]
    _ok(run(*args))
    fac.assert_same_array(np.load(out), turbodicom.decode(path, index=index))


def test_decode_threads_option(tmp_path):
    path = pydicom_file("rtdose_rle.dcm")
    out = tmp_path / "out.npy"
    _ok(run("decode", path, "--threads", "2", "-o", str(out)))
    fac.assert_same_array(np.load(out), turbodicom.decode(path))


def test_decode_bad_file_fails_cleanly(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(open(pydicom_file("MR_truncated.dcm"), "rb").read())
    out = tmp_path / "out.npy"
    proc = run("decode", str(bad), "-o", str(out))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Rows" in proc.stderr or "truncated" in proc.stderr, proc.stderr
    assert not out.exists()


def test_decode_missing_file_fails_cleanly(tmp_path):
    proc = run("decode", str(tmp_path / "missing.dcm"), "-o", str(tmp_path / "o.npy"))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "missing.dcm" in proc.stderr


def test_decode_bad_index_fails_cleanly(tmp_path):
    proc = run("decode", pydicom_file("SC_rgb_rle_2frame.dcm"), "--index", "2", "-o",
               str(tmp_path / "o.npy"))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr


def test_usage_errors():
    assert run().returncode == 2
    assert run("decode", pydicom_file("MR_small_RLE.dcm")).returncode == 2  # no -o


def test_bench_quick_on_one_small_file():
    proc = _ok(run("bench", "--quick", pydicom_file("MR_small_RLE.dcm"), timeout=240))
    assert "turbodicom" in proc.stdout
    assert "MR_small_RLE" in proc.stdout
    assert "disagree" not in proc.stderr, proc.stderr
