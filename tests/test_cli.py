"""The command line: ``python -m turbodicom info | decode | scan | bench``, always run as a
separate process on the build under test."""

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

#: The folder holding the turbodicom package these tests imported (the build under test); the
#: command runs with it first on PYTHONPATH, so it runs the same build.
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(turbodicom.__file__)))


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONWARNINGS="ignore", COLUMNS="200",
                PYTHONPATH=BUILD + (os.pathsep + path if path else ""))


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "turbodicom", *args], capture_output=True,
                          text=True, timeout=timeout, env=_env())


def test_the_command_runs_the_build_under_test():
    proc = subprocess.run([sys.executable, "-c", "import turbodicom; print(turbodicom.__file__)"],
                          capture_output=True, text=True, env=_env(), check=True)
    assert os.path.samefile(proc.stdout.strip(), turbodicom.__file__)


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


# ------------------------------------------------------------------------------------------
# Issue 12: tags in every form, one-line errors with exit status 2, help without markup
# ------------------------------------------------------------------------------------------
def _jsonl(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines()]


def _one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """The command failed as a user's mistake: exit 2, one line 'turbodicom: ...', no trace."""
    assert proc.returncode == 2, f"exit {proc.returncode}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("turbodicom: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("form", ["(0020,0032)", "0020,0032", "00200032", "0x00200032",
                                  "( 0020 , 0032 )", "ImagePositionPatient"])
def test_scan_tag_forms(form):
    import pydicom

    path = pydicom_file("CT_small.dcm")
    [row] = _jsonl(_ok(run("scan", path, "-t", form)))
    expected = [float(x) for x in pydicom.dcmread(path).ImagePositionPatient]
    assert row["ImagePositionPatient"] == expected and row["error"] is None


def test_scan_several_tags_in_one_option_and_repeated():
    import pydicom

    path = pydicom_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    [row] = _jsonl(_ok(run("scan", path, "-t", "PatientID,(0020,0032),0028,0010",
                           "-t", "0x00280011", "-t", "Modality")))
    assert list(row) == ["path", "error", "PatientID", "ImagePositionPatient", "Rows",
                         "Columns", "Modality"]
    assert (row["PatientID"], row["Rows"], row["Columns"], row["Modality"]) == (
        ds.PatientID, ds.Rows, ds.Columns, ds.Modality)


@pytest.mark.parametrize("tags,fragments", [
    ("NotAKeyword", ("unknown DICOM keyword 'NotAKeyword'",)),
    ("PatientNmae", ("unknown DICOM keyword", "did you mean PatientName")),
    ("(0020,003)", ("neither a DICOM keyword nor a tag",)),
    ("(0020,0032", ("'(' without its ')'",)),
    ("0020,0032)", ("')' without its '('",)),
    ("0x0020003G", ("neither a DICOM keyword nor a tag",)),
    (",", ("no tags given",)),
    ("Rows,0x00280010", ("requested twice",)),
])
def test_scan_bad_tags_are_one_line_errors(tags, fragments, tmp_path):
    out = tmp_path / "out.csv"
    proc = run("scan", pydicom_file("CT_small.dcm"), "-t", tags, "-o", str(out))
    _one_line_error(proc, *fragments)
    assert not out.exists()


def test_scan_output_format_is_refused_before_scanning(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    src = open(pydicom_file("CT_small.dcm"), "rb").read()
    for i in range(200):
        (folder / f"{i}.dcm").write_bytes(src)
    out = tmp_path / "out.xlsx"
    proc = run("scan", str(folder), "-t", "PatientID", "-o", str(out))
    _one_line_error(proc, "out.xlsx", "unknown output format .xlsx", ".parquet", ".csv",
                    ".jsonl")
    assert "scanned" not in proc.stdout + proc.stderr  # refused before the scan ran
    assert not out.exists()
    _one_line_error(run("scan", str(folder), "-t", "Rows", "-o",
                        str(tmp_path / "missing" / "o.csv")), "does not exist")
    _one_line_error(run("scan", str(folder), "-t", "Rows", "-o", str(tmp_path)), "folder")


def _png(tmp_path):
    import struct

    p = tmp_path / "image.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + bytes(120))
    return p


def _broken_deflate(tmp_path):
    from pathlib import Path

    data = Path(pydicom_file("image_dfl.dcm")).read_bytes()
    start = turbodicom._parse.parse_image(data)["dataset_offset"]
    p = tmp_path / "broken_dfl.dcm"
    p.write_bytes(data[:start] + b"\xff" * 64 + data[start + 64:])
    return p


def _unsupported_syntax(tmp_path):
    import io

    import reference

    arr = reference.runs_and_noise((2, 6, 7), "u2", seed=3)
    frames = fac.encode_frames(arr, bits_allocated=16)
    ds = fac.make_dataset(transfer_syntax="1.2.840.10008.1.2.4.55", rows=6, columns=7,
                          pixel_data=fac.encapsulate(frames), bits_allocated=16, frames=2)
    ds["PixelData"].is_undefined_length = True
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True, enforce_file_format=True)
    p = tmp_path / "progressive.dcm"
    p.write_bytes(buf.getvalue())
    return p


@pytest.mark.parametrize("case", ["missing", "folder", "png", "broken-deflate", "unsupported",
                                  "truncated", "index-too-big", "index-negative", "threads-0",
                                  "index-not-a-number", "output-format", "output-folder"])
def test_decode_mistakes_are_one_line_errors(case, tmp_path):
    out = tmp_path / "o.npy"
    ct = pydicom_file("CT_small.dcm")
    args, fragments = {
        "missing": ([str(tmp_path / "nope.dcm")], ("nope.dcm", "no such file")),
        "folder": ([str(tmp_path)], ("is a folder",)),
        "png": ([str(_png(tmp_path))], ("image.png: not a DICOM file: no 'DICM' preamble",)),
        "broken-deflate": ([str(_broken_deflate(tmp_path))],
                           ("broken_dfl.dcm: deflated dataset cannot be inflated",)),
        "unsupported": ([str(_unsupported_syntax(tmp_path))],
                        ("1.2.840.10008.1.2.4.55 (JPEG Full Progression",
                         "RLE Lossless")),
        "truncated": ([pydicom_file("MR_truncated.dcm")], ("MR_truncated.dcm", "Rows")),
        "index-too-big": ([ct, "--index", "1"], ("frame index 1 out of range",)),
        "index-negative": ([ct, "--index", "-1"], ("--index", "0 or more")),
        "threads-0": ([ct, "--threads", "0"], ("--threads", "1 or more")),
        "index-not-a-number": ([ct, "--index", "x"], ("--index", "not a whole number")),
        "output-format": ([ct, "-o", str(tmp_path / "o.png")], ("unknown output format .png",
                                                                 ".npy")),
        "output-folder": ([ct, "-o", str(tmp_path / "no" / "o.npy")], ("does not exist",)),
    }[case]
    if "-o" not in args:
        args = args + ["-o", str(out)]
    _one_line_error(run("decode", *args), *fragments)
    assert not out.exists()


@pytest.mark.parametrize("args,fragments", [
    ((), ("required: COMMAND", "turbodicom --help")),
    (("frobnicate",), ("invalid choice: 'frobnicate'",)),
    (("scan", "/nonexistent/folder", "-t", "Rows"), ("/nonexistent/folder: no such file",)),
    (("scan", "."), ("required: -t/--tags", "turbodicom scan --help")),
    (("scan", ".", "-t", "Rows", "--threads", "0"), ("--threads", "1 or more")),
    (("bench", "/nonexistent/file.dcm"), ("/nonexistent/file.dcm: no such file",)),
    (("bench", "--min-time", "-1"), ("--min-time", "more than 0")),
    (("bench", "--json", "/nonexistent/r.json"), ("does not exist",)),
    (("info", "--bogus"), ("unrecognized arguments: --bogus",)),
])
def test_other_mistakes_are_one_line_errors(args, fragments):
    _one_line_error(run(*args), *fragments)


@pytest.mark.parametrize("command", [[], ["info"], ["decode"], ["scan"], ["bench"]])
def test_help_has_no_markup(command):
    text = _ok(run(*command, "--help")).stdout
    assert "usage: turbodicom" in text
    for markup in ("``", ":func:", ":class:", ":meth:", "`"):
        assert markup not in text, f"{markup!r} in {' '.join(command)} --help:\n{text}"


def test_scan_into_a_closed_pipe_stops_quietly(tmp_path):
    src = open(pydicom_file("CT_small.dcm"), "rb").read()
    for i in range(400):
        (tmp_path / f"{i:03d}.dcm").write_bytes(src)
    proc = subprocess.Popen([sys.executable, "-m", "turbodicom", "scan", str(tmp_path), "-t",
                             "PatientID,StudyInstanceUID,SeriesInstanceUID,SOPInstanceUID"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    _, err = proc.communicate(timeout=120)
    assert json.loads(first)["PatientID"] == "1CT1"
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()


def test_bench_without_files_it_can_time(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not DICOM\n")
    _one_line_error(run("bench", str(notes)), "no compressed DICOM files")
