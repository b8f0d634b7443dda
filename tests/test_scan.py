"""turbodicom.scan: values equal pydicom's ``ds.get(keyword)`` across the corpus and pydicom's
bundled files; hostile input gives a per-file error, never an exception; CLI and threads."""

from __future__ import annotations

import json
import os
import struct
import threading
import warnings
from pathlib import Path

import pytest

import turbodicom
from turbodicom.scan import BUILTIN_KEYWORDS, resolve_tags, scan_buffer

from conftest import corpus_rows, pydicom_file, requires_corpus

pydicom = pytest.importorskip("pydicom")

#: Tags of varied VRs: text (LO, PN, UI, CS, DA, TM, SH), IS, DS (single and multi), US, meta,
#: AT, FL/FD, SS/US ambiguity, tags after long sequences.
TAGS = [
    "PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
    "Modality", "InstanceNumber", "ImagePositionPatient", "ImageOrientationPatient",
    "PixelSpacing", "SliceThickness", "StudyDate", "StudyTime", "Rows", "Columns",
    "BitsAllocated", "SamplesPerPixel", "TransferSyntaxUID", "WindowCenter", "WindowWidth",
    "ImageType", "SpecificCharacterSet", "InstitutionName", "ReferringPhysicianName",
    "FrameIncrementPointer", "SmallestImagePixelValue", "PixelPaddingValue", "PatientAge",
    "NumberOfFrames", "RescaleSlope", "FrameTime", "RecommendedDisplayFrameRateInFloat",
    "AcquisitionDuration", "LossyImageCompressionRatio", "PixelRepresentation",
]



def _bundled() -> list[str]:
    """Every .dcm file shipped inside pydicom's own test data folder (no download)."""
    from pydicom.data import get_testdata_file

    ct = get_testdata_file("CT_small.dcm", download=False)
    if ct is None:
        return []
    folder = os.path.dirname(ct)
    return sorted(n for n in os.listdir(folder) if n.endswith(".dcm"))


BUNDLED = _bundled()


def _norm(v):
    """pydicom's value as plain Python: MultiValue -> list, DSfloat -> float, IS -> int, ..."""
    from pydicom.multival import MultiValue
    from pydicom.tag import BaseTag
    from pydicom.valuerep import IS, DSfloat, PersonName

    if isinstance(v, (MultiValue, list)):
        return [_norm(x) for x in v]
    if isinstance(v, PersonName):
        return str(v)
    if isinstance(v, BaseTag):
        return int(v)
    if isinstance(v, DSfloat):
        return float(v)
    if isinstance(v, IS):
        return int(v)
    if isinstance(v, str):
        return str(v)
    return v


def _expected(path, keywords):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        out = {}
        for k in keywords:
            if k.startswith("(") or pydicom.datadict.dictionary_VR(k) == "SQ":
                continue
            try:
                if pydicom.datadict.tag_for_keyword(k) >> 16 == 2:
                    meta = getattr(ds, "file_meta", None)
                    out[k] = _norm(meta.get(k)) if meta is not None else None
                else:
                    out[k] = _norm(ds.get(k))
            except Exception:  # pydicom cannot convert this value: nothing to compare
                continue
    return out


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _check_row(row, keywords):
    try:
        expected = _expected(row["path"], keywords)
    except Exception:
        # pydicom cannot read the file: scan must still give a row (error or values)
        assert row["error"] is None or isinstance(row["error"], str)
        return 0
    compared = 0
    for k, b in expected.items():
        a = row[k]
        if row["error"] is not None and a is None:
            continue  # the scan stopped at the problem; pydicom may read on leniently
        assert _same(a, b), f"{row['path']}: {k}: scan {a!r} != pydicom {b!r}"
        compared += 1
    return compared


# ------------------------------------------------------------------------------------------
# Corpus conformance
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus_scan():
    rows = corpus_rows()
    return turbodicom.scan([r["abspath"] for r in rows], TAGS, threads=2)


@requires_corpus
def test_corpus_values_equal_pydicom(corpus_scan):
    assert len(corpus_scan) == len(corpus_rows())
    compared = sum(_check_row(row, TAGS) for row in corpus_scan)
    assert compared > 5000
    kinds = {type(v) for row in corpus_scan for k, v in row.items() if k not in ("path", "error")}
    assert {str, int, float, list, type(None)} <= kinds


@requires_corpus
def test_corpus_every_top_level_keyword():
    """Every standard non-sequence top-level keyword found in the corpus, in one scan."""
    rows = corpus_rows()[::3]
    keywords = set()
    for r in rows:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(r["abspath"], force=True, stop_before_pixels=True)
        except Exception:
            continue
        keywords |= {e.keyword for e in ds if e.keyword and e.VR != "SQ" and e.tag < 0x7FE00000}
    keywords_list = sorted(keywords)
    result = turbodicom.scan([r["abspath"] for r in rows], keywords_list, threads=1)
    assert sum(_check_row(row, keywords_list) for row in result) > 10000


@requires_corpus
def test_corpus_threads_equal_serial(corpus_scan):
    one = turbodicom.scan(corpus_scan.paths, TAGS, threads=1)
    assert list(one) == list(corpus_scan)


# ------------------------------------------------------------------------------------------
# pydicom's bundled files (no corpus needed): BE, implicit, deflated, charsets, no meta
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_files(name):
    path = pydicom_file(name)
    kws = TAGS + ["PatientSex", "StudyDescription", "SeriesDescription", "AccessionNumber",
                  "ReferencedFrameNumber", "DoseGridScaling", "RTPlanLabel"]
    [row] = turbodicom.scan(str(path), kws)
    _check_row(row, kws)


def test_deflated_and_big_endian_values():
    [row] = turbodicom.scan(pydicom_file("image_dfl.dcm"), ["PatientName", "Rows", "Columns",
                                                           "TransferSyntaxUID"])
    assert row["error"] is None
    assert row["TransferSyntaxUID"] == "1.2.840.10008.1.2.1.99"
    assert isinstance(row["Rows"], int) and row["Rows"] > 0
    [row] = turbodicom.scan(pydicom_file("MR_small_bigendian.dcm"), ["Rows", "PixelSpacing"])
    assert row["Rows"] == 64 and isinstance(row["PixelSpacing"], list)


def test_scan_buffer_and_tag_forms():
    path = pydicom_file("CT_small.dcm")
    with open(path, "rb") as f:
        data = f.read()
    row = scan_buffer(data, ["PatientID", (0x0028, 0x0010), 0x00280011, "(0008,0060)"])
    assert row["PatientID"] == "1CT1" and row["Rows"] == 128 and row["Columns"] == 128
    assert row["Modality"] == "CT"
    assert [n for n, _, _ in resolve_tags([(0x0009, 0x1001)])] == ["(0009,1001)"]
    with pytest.raises(ValueError, match="unknown DICOM keyword"):
        resolve_tags(["NotAKeyword"])
    with pytest.raises(ValueError, match="twice"):
        resolve_tags(["Rows", 0x00280010])


def test_private_tag_and_absent():
    [row] = turbodicom.scan(pydicom_file("CT_small.dcm"), [(0x0009, 0x0010), (0x0043, 0x1099),
                                                          "NumberOfFrames"])
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    assert row["(0009,0010)"] == ds[0x00090010].value
    assert row["(0043,1099)"] is None and row["NumberOfFrames"] is None


def test_builtin_table_matches_pydicom_dictionary():
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    for kw, (tag, vr) in BUILTIN_KEYWORDS.items():
        assert tag_for_keyword(kw) == tag, kw
        assert dictionary_VR(tag) == vr, kw


def test_directory_and_result_api(tmp_path):
    src = pydicom_file("CT_small.dcm")
    (tmp_path / "sub").mkdir()
    for i in range(3):
        with open(src, "rb") as f, open(tmp_path / "sub" / f"{i}.dcm", "wb") as g:
            g.write(f.read())
    (tmp_path / "notes.txt").write_text("not dicom at all\n")
    res = turbodicom.scan(tmp_path, ["PatientID", "Rows"])
    assert len(res) == 4
    rows = list(res)
    assert rows[0]["path"].endswith("notes.txt")
    assert [r["PatientID"] for r in rows[1:]] == ["1CT1"] * 3
    assert len(turbodicom.scan(tmp_path, ["Rows"], recursive=False)) == 1
    assert res[-1]["Rows"] == 128
    pd = pytest.importorskip("pandas")
    df = res.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["path", "error", "warnings",
                                                                 "PatientID", "Rows"]
    pa = pytest.importorskip("pyarrow")
    table = res.to_arrow()
    assert isinstance(table, pa.Table) and table.num_rows == 4


def test_missing_file_is_a_row_error(tmp_path):
    [row] = turbodicom.scan([str(tmp_path / "nope.dcm")], ["PatientID"])
    assert "No such file" in row["error"] and row["PatientID"] is None


# ------------------------------------------------------------------------------------------
# Hostile input: per-file error or values, never an exception, never a hang
# ------------------------------------------------------------------------------------------
def _explicit(tag, vr, value):
    g, e = tag >> 16, tag & 0xFFFF
    if vr in ("OB", "OW", "SQ", "UN", "UT", "UC", "UR"):
        return struct.pack("<HH2sHI", g, e, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", g, e, vr.encode(), len(value)) + value


def _part10(body, ts=b"1.2.840.10008.1.2.1\0"):
    meta = _explicit(0x00020010, "UI", ts)
    meta = _explicit(0x00020000, "UL", struct.pack("<I", len(meta))) + meta
    return b"\0" * 128 + b"DICM" + meta + body


def test_truncated_at_many_points(tmp_path):
    data = open(pydicom_file("CT_small.dcm"), "rb").read()
    tags = ["PatientID", "Rows", "Columns", "PixelSpacing", "ImagePositionPatient"]
    paths = []
    for i, cut in enumerate(range(0, 3000, 7)):
        p = tmp_path / f"cut{i}.dcm"
        p.write_bytes(data[:cut])
        paths.append(str(p))
    res = turbodicom.scan(paths, tags, threads=2)
    assert len(res) == len(paths)
    assert sum(r["error"] is not None for r in res) > 50
    full = scan_buffer(data, tags)
    for r in res:
        for k in tags:  # whatever was found before the cut is right
            assert r[k] is None or r[k] == full[k]
    for cut in range(0, 3000, 13):
        row = scan_buffer(data[:cut], tags)
        assert row["error"] is None or isinstance(row["error"], str)


def test_garbage_and_bad_lengths():
    import random

    rng = random.Random(5)
    for n in (0, 1, 7, 131, 132, 200, 4096, 70000):
        row = scan_buffer(bytes(rng.getrandbits(8) for _ in range(n)), ["PatientID", "Rows"])
        assert row["error"] is None or isinstance(row["error"], str)
    huge = _part10(struct.pack("<HH2sH", 0x0008, 0x0016, b"UI", 60) + b"1.2")
    assert "past the end" in scan_buffer(huge, ["PatientID"])["error"]
    huge = _part10(struct.pack("<HH2sHI", 0x0008, 0x1111, b"SQ", 0, 0xFFFFFFF0))
    assert "past the end" in scan_buffer(huge, ["PatientID"])["error"]
    bad_vr = _part10(b"\x10\x00\x20\x00\x01\x02\x04\x00ABCD" + _explicit(0x00100030, "DA", b""))
    row = scan_buffer(bad_vr, ["PatientID", "PatientBirthDate"])
    assert row["error"] is None or isinstance(row["error"], str)


def test_deep_nesting_is_an_error():
    item = b""
    for _ in range(200):
        seq = struct.pack("<HH2sHI", 0x0008, 0x1115, b"SQ", 0, 0xFFFFFFFF)
        item = seq + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + item
    data = _part10(item)
    row = scan_buffer(data, ["PatientID"])
    assert "nested deeper" in row["error"]


def test_corrupt_deflate_is_an_error():
    data = _part10(b"\xff" * 64, ts=b"1.2.840.10008.1.2.1.99\0")
    row = scan_buffer(data, ["PatientID"])
    assert row["error"] is not None and "deflate" in row["error"]


def test_stops_before_pixel_data(tmp_path):
    """A file whose pixel data length runs far past the end: tags before it still scan."""
    body = _explicit(0x00100020, "LO", b"ABC ") + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW",
                                                              0, 0x7FFFFFF0)
    p = tmp_path / "x.dcm"
    p.write_bytes(_part10(body) + b"\0" * 100)
    [row] = turbodicom.scan(str(p), ["PatientID"])
    assert row == {"path": str(p), "error": None, "PatientID": "ABC"}


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs /proc/self/io")
def test_reads_only_the_head(tmp_path):
    body = _explicit(0x00100020, "LO", b"ABC ") + _explicit(0x7FE00010, "OW", b"\0" * (8 << 20))
    p = tmp_path / "big.dcm"
    p.write_bytes(_part10(body))
    [row] = turbodicom.scan(str(p), ["PatientID", "Rows"])
    assert row["PatientID"] == "ABC"
    from turbodicom import _scan

    sc = _scan.Scanner([0x00100020, 0x7FE10010], ["LO", None], lambda b, c: "")
    assert sc.scan_file(str(p)) == (None, ["ABC", None])  # skips the 8 MiB by seeking


# ------------------------------------------------------------------------------------------
# Threads and the command line
# ------------------------------------------------------------------------------------------
def test_gil_released_during_scan(tmp_path):
    src = open(pydicom_file("CT_small.dcm"), "rb").read()
    paths = []
    for i in range(300):
        p = tmp_path / f"{i}.dcm"
        p.write_bytes(src)
        paths.append(str(p))
    ticks = 0
    stop = threading.Event()

    def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=ticker)
    t.start()
    try:
        res = turbodicom.scan(paths * 3, ["PatientID"], threads=2)
    finally:
        stop.set()
        t.join()
    assert ticks > 0 and len(res) == 900


def test_cli_scan(tmp_path, capsys):
    from turbodicom.cli import main

    src = pydicom_file("CT_small.dcm")
    out = tmp_path / "out.jsonl"
    assert main(["scan", src, pydicom_file("MR_small.dcm"), "-t", "PatientID,Rows",
                 "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["PatientID"] == "1CT1" and rows[0]["Rows"] == 128 and rows[0]["error"] is None
    assert "files/s" in capsys.readouterr().err
    csv_out = tmp_path / "out.csv"
    assert main(["scan", src, "-t", "PatientID", "-t", "PixelSpacing", "-o", str(csv_out)]) == 0
    assert "1CT1" in csv_out.read_text()


def test_cli_scan_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from turbodicom.cli import main

    out = tmp_path / "out.parquet"
    assert main(["scan", pydicom_file("CT_small.dcm"), "-t", "PatientID,ImagePositionPatient",
                 "-o", str(out), "--threads", "2"]) == 0
    assert pq.read_table(out).to_pylist()[0]["PatientID"] == "1CT1"


# ------------------------------------------------------------------------------------------
# Dask (optional): a local distributed cluster of 2 workers
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _copies(tmp_path, n):
    src = open(pydicom_file("CT_small.dcm"), "rb").read()
    mr = open(pydicom_file("MR_small_bigendian.dcm"), "rb").read()
    for i in range(n):
        (tmp_path / f"{i:03d}.dcm").write_bytes(src if i % 2 else mr)
    return tmp_path


def test_dask_scan_equals_local(tmp_path, dask_client):
    import turbodicom.dask as tdd

    folder = _copies(tmp_path, 25)
    tags = ["PatientID", "Rows", "PixelSpacing"]
    ddf = tdd.scan(folder, tags, partition_size=4)
    assert ddf.npartitions == 7
    df = ddf.compute()
    local = turbodicom.scan(folder, tags).to_pandas()
    assert df.reset_index(drop=True).equals(local)


def test_dask_to_parquet(tmp_path, dask_client):
    pytest.importorskip("pyarrow")
    import pandas as pd

    import turbodicom.dask as tdd

    folder = _copies(tmp_path / "in" if (tmp_path / "in").mkdir() is None else tmp_path, 10)
    out = tmp_path / "index.parquet"
    tdd.to_parquet(folder, ["PatientID", "Rows", "ImagePositionPatient"], str(out),
                   partition_size=3)
    assert len(list(out.glob("*.parquet"))) == 4
    df = pd.read_parquet(out)
    assert len(df) == 10 and set(df["Rows"]) == {"64", "128"}


def test_non_dicom_files_are_reported_not_dicom(tmp_path):
    """A folder of mixed files: text and PNG-like files get an error naming them as not DICOM,
    not a row of empty values; a real file beside them still scans."""
    import shutil

    from pydicom.data import get_testdata_file

    (tmp_path / "README.md").write_text("# notes\nnot a DICOM file at all\n" * 20)
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "ct.dcm")
    rows = {Path(r["path"]).name: r for r in turbodicom.scan(tmp_path, ["Modality", "Rows"])}
    for name in ("README.md", "image.png"):
        assert rows[name]["error"] is not None and "not a DICOM file" in rows[name]["error"]
        assert rows[name]["Modality"] is None
    assert rows["ct.dcm"]["error"] is None and rows["ct.dcm"]["Modality"] == "CT"


# ------------------------------------------------------------------------------------------
# Column types from the data dictionary's VR and VM, never from the values seen (issue 12)
# ------------------------------------------------------------------------------------------
TYPED_TAGS = ["Rows", "Columns", "BitsAllocated", "PixelRepresentation", "WindowCenter",
              "WindowWidth", "PixelSpacing", "ImageType", "InstanceNumber", "SliceThickness",
              "PatientName", "SOPInstanceUID", "RescaleSlope"]


def _dictionary_arrow_type(keyword):
    """The Arrow type a tag column must have, from pydicom's data dictionary alone."""
    pa = pytest.importorskip("pyarrow")
    from pydicom.datadict import dictionary_VM, dictionary_VR

    vr, vm = dictionary_VR(keyword), dictionary_VM(keyword)
    base = {"US": pa.int64(), "SS": pa.int64(), "UL": pa.int64(), "SL": pa.int64(),
            "IS": pa.int64(), "DS": pa.float64(), "FL": pa.float64(), "FD": pa.float64(),
            "CS": pa.string(), "PN": pa.string(), "UI": pa.string(), "LO": pa.string()}[vr]
    return base if vm == "1" else pa.list_(base)


def _typed_files(tmp_path):
    """Three files: a well-formed one, one whose values do not fit the dictionary (Rows with
    two values, an IS that is not an integer, a DS that is not a number), and a text file."""
    import numpy as np

    import dicom_factory as fac

    def make(**values):
        ds = fac.make_dataset(transfer_syntax=fac.ExplicitVRLittleEndian, rows=6, columns=7,
                              pixel_data=np.zeros((6, 7), np.uint16).tobytes(),
                              bits_allocated=16)
        ds.PatientName = "Doe^John"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PixelSpacing = ["0.5", "0.25"]
        for k, v in values.items():
            setattr(ds, k, v)
        return fac.to_bytes(ds)

    good = make(WindowCenter="40", WindowWidth="400", InstanceNumber="3",
                SliceThickness="1.25")
    odd = make(Rows=[32768, 0], WindowCenter=["40", "400"], InstanceNumber="1234",
               SliceThickness="9.75")
    assert odd.count(b"1234") == 1 and odd.count(b"9.75") == 1
    odd = odd.replace(b"1234", b"12.5").replace(b"9.75", b"thin")  # pydicom will not write them
    paths = []
    for name, data in (("good.dcm", good), ("odd.dcm", odd), ("notes.txt", b"not DICOM\n" * 9)):
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    return paths


def test_arrow_types_come_from_the_dictionary(tmp_path):
    pa = pytest.importorskip("pyarrow")
    paths = _typed_files(tmp_path)
    expected = pa.schema([("path", pa.string()), ("error", pa.string()),
                          ("warnings", pa.string())]
                         + [(k, _dictionary_arrow_type(k)) for k in TYPED_TAGS])
    res = turbodicom.scan(paths, TYPED_TAGS)
    assert res.to_arrow().schema == expected
    for p in paths:  # whatever one file holds, the types are the same
        assert turbodicom.scan([p], TYPED_TAGS).to_arrow().schema == expected
    assert turbodicom.scan([], TYPED_TAGS).to_arrow().schema == expected


def test_typed_values_and_warnings(tmp_path):
    pytest.importorskip("pyarrow")
    from pydicom.datadict import dictionary_VM

    good_path, odd_path, text_path = _typed_files(tmp_path)
    res = turbodicom.scan([good_path, odd_path, text_path], TYPED_TAGS)
    good, odd, text = res.to_arrow().to_pylist()
    # the well-formed file: pydicom's values, a list wherever the VM allows several
    expected = _expected(good_path, TYPED_TAGS)
    for k in TYPED_TAGS:
        want = expected.get(k)
        if want is not None and dictionary_VM(k) != "1" and not isinstance(want, list):
            want = [want]
        assert _same(good[k], want), f"{k}: {good[k]!r} != {want!r}"
    assert good["warnings"] is None and good["Rows"] == 6 and good["WindowCenter"] == [40.0]
    # values that do not fit are null in their column and named in the row's warnings
    assert odd["Rows"] is None and odd["Columns"] == 7
    assert odd["WindowCenter"] == [40.0, 400.0]
    assert odd["InstanceNumber"] is None and odd["SliceThickness"] is None
    notes = odd["warnings"].split("; ")
    assert len(notes) == 3
    assert notes[0] == ("Rows: [32768, 0] does not fit its integer column (VR US, VM 1), "
                        "left null")
    assert notes[1].startswith("InstanceNumber: '12.5' does not fit its integer column")
    assert notes[2].startswith("SliceThickness: 'thin' does not fit its float column")
    assert odd["error"] is None
    # the rows themselves keep every value as read
    assert res[1]["Rows"] == [32768, 0] and res[1]["InstanceNumber"] == "12.5"
    # a file that is not DICOM: an error, no values, no warnings
    assert text["error"].startswith("not a DICOM file")
    assert text["warnings"] is None and all(text[k] is None for k in TYPED_TAGS)


def test_pandas_types_match_arrow(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    res = turbodicom.scan(_typed_files(tmp_path), TYPED_TAGS)
    df = res.to_pandas()
    assert str(df["Rows"].dtype) == "Int64" and str(df["InstanceNumber"].dtype) == "Int64"
    assert str(df["SliceThickness"].dtype) == "Float64"
    assert df["Rows"].isna().tolist() == [False, True, True]
    table = res.to_arrow().to_pylist()
    for name in ["path", "error", "warnings"] + TYPED_TAGS:
        for i, row in enumerate(table):
            v = df[name].iloc[i]
            assert (row[name] is None and (v is None or v is pd.NA)) or _same(
                row[name], v.item() if hasattr(v, "item") else v), (name, i, v, row[name])


def test_cli_parquet_and_csv_are_typed(tmp_path):
    """The real command: Parquet holds the typed table, CSV its text, both with warnings."""
    import csv
    import subprocess
    import sys

    pq = pytest.importorskip("pyarrow.parquet")
    from test_cli import _env

    paths = _typed_files(tmp_path)
    expected = turbodicom.scan(paths, TYPED_TAGS).to_arrow()
    tags = ",".join(TYPED_TAGS)
    for out in ("out.parquet", "out.csv"):
        subprocess.run([sys.executable, "-m", "turbodicom", "scan", *paths, "-t", tags, "-o",
                        str(tmp_path / out)], check=True, env=_env(), capture_output=True)
    assert pq.read_table(tmp_path / "out.parquet").equals(expected)
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == expected.column_names
    assert rows[0]["Rows"] == "6" and rows[0]["WindowCenter"] == "40.0"
    assert rows[0]["PixelSpacing"] == "0.5\\0.25" and rows[0]["warnings"] == ""
    assert rows[1]["Rows"] == "" and rows[1]["warnings"].startswith("Rows: [32768, 0]")
    assert rows[1]["WindowCenter"] == "40.0\\400.0"


def test_types_without_pydicom(tmp_path, monkeypatch):
    """Without pydicom, the built-in table gives the same types for its keywords."""
    import importlib

    pytest.importorskip("pyarrow")
    scan_module = importlib.import_module("turbodicom.scan")  # the module, not the function

    paths = _typed_files(tmp_path)
    with_dd = turbodicom.scan(paths, TYPED_TAGS + ["SoftwareVersions"])
    monkeypatch.setattr(scan_module, "_pydicom_datadict", lambda: None)
    without = turbodicom.scan(paths, TYPED_TAGS + ["(0018,1020)"])
    assert without.to_arrow().schema.remove(len(TYPED_TAGS) + 3) == \
        with_dd.to_arrow().schema.remove(len(TYPED_TAGS) + 3)
    assert without.to_arrow().drop_columns(["(0018,1020)"]).to_pylist() == \
        with_dd.to_arrow().drop_columns(["SoftwareVersions"]).to_pylist()
    assert without.column_type("(0018,1020)") is None  # not in the built-in table: inferred
    assert with_dd.column_type("SoftwareVersions") == ("str", True)


def test_builtin_vm_matches_pydicom_dictionary():
    from pydicom.datadict import dictionary_VM

    from turbodicom.scan import BUILTIN_VM

    assert set(BUILTIN_VM) <= set(BUILTIN_KEYWORDS)
    for kw in BUILTIN_KEYWORDS:
        assert dictionary_VM(kw) == BUILTIN_VM.get(kw, "1"), kw


@requires_corpus
def test_corpus_column_types(corpus_scan):
    """The corpus file with Rows = [32768, 0] no longer turns Rows, Columns and BitsAllocated
    into text for every row: the columns stay integer, that row is null and warned about."""
    pa = pytest.importorskip("pyarrow")
    table = corpus_scan.to_arrow()
    for k in ("Rows", "Columns", "BitsAllocated", "WindowCenter", "PixelSpacing",
              "InstanceNumber", "ImagePositionPatient"):
        assert table.schema.field(k).type == _dictionary_arrow_type(k), k
    assert table.schema.field("TransferSyntaxUID").type == pa.string()
    typed = table.to_pylist()
    odd = 0
    for raw, row in zip(corpus_scan, typed, strict=True):
        for k in ("Rows", "Columns", "BitsAllocated"):
            if isinstance(raw[k], list):
                assert row[k] is None and f"{k}: {raw[k]!r}" in row["warnings"]
                odd += 1
            else:
                assert row[k] == raw[k]
        wc = raw["WindowCenter"]
        if isinstance(wc, float):
            assert row["WindowCenter"] == [wc]
        elif isinstance(wc, list) and all(isinstance(x, float) for x in wc):
            assert row["WindowCenter"] == wc
    assert odd >= 3  # the file with Rows, Columns = [32768, 0], BitsAllocated = [8, 0]


@pytest.mark.parametrize("form", ["(0020,0032)", "0020,0032", "00200032", "0x00200032",
                                  "0X00200032", "( 0020 , 0032 )", "(00200032)",
                                  "ImagePositionPatient", 0x00200032, (0x0020, 0x0032)])
def test_resolve_tag_forms(form):
    assert resolve_tags([form]) == [("ImagePositionPatient", 0x00200032, "DS")]


@pytest.mark.parametrize("form,message", [
    ("(0020,0032", "neither a DICOM keyword nor a tag"),
    ("0020,0032)", "neither a DICOM keyword nor a tag"),
    ("0x0020003", "neither a DICOM keyword nor a tag"),
    ("(0020", "neither a DICOM keyword nor a tag"),
    ("PatientNmae", "unknown DICOM keyword 'PatientNmae' (did you mean PatientName"),
])
def test_resolve_bad_tag_forms(form, message):
    with pytest.raises(ValueError) as info:
        resolve_tags([form])
    assert message in str(info.value)


def test_typed_columns_edge_values():
    """Each value against its column: what fits is kept (converted losslessly), what does not
    is None with a warning; the fast whole-column path and the per-value path agree."""
    from turbodicom.scan import ScanResult

    cols = {  # name: (VR, VM, values, expected typed values, rows with a warning)
        "a": ("IS", "1", [1, "", None, 2**63, 3.0, "x", b"\x01"],
              [1, None, None, None, 3, None, None], {3, 5, 6}),
        "b": ("UV", "1", [2**64 - 1, -1, 0, None, None, None, None],
              [2**64 - 1, None, 0, None, None, None, None], {1}),
        "c": ("DS", "1-n", [1.5, [1.0, ""], "", [2, "y"], None, [], 7],
              [[1.5], [1.0, None], None, None, None, [], [7.0]], {3}),
        "d": ("LO", "1", ["x", ["p", "q"], 5, None, "", b"z", 2.5],
              ["x", None, "5", None, "", None, "2.5"], {1, 5}),
        "e": ("OB", "1", [b"\x00", None, "t", b"", None, None, None],
              [b"\x00", None, None, b"", None, None, None], {2}),
        "f": ("xs", "1", [5, -3, None, None, None, None, None],
              [5, -3, None, None, None, None, None], set()),
    }
    n = 7
    res = ScanResult([f"p{i}" for i in range(n)], [None] * n, list(cols),
                     [c[2] for c in cols.values()], list(range(len(cols))),
                     [c[0] for c in cols.values()], [c[1] for c in cols.values()])
    typed = res.typed_columns()
    for name, (_, _, _, expected, warned) in cols.items():
        assert typed[name] == expected, name
        for i in range(n):
            w = typed["warnings"][i] or ""
            assert (f"{name}: " in w) == (i in warned), (name, i, w)
    assert "(VR US or SS, VM 1)" not in " ".join(w or "" for w in typed["warnings"])
    pa = pytest.importorskip("pyarrow")
    table = res.to_arrow()
    assert table.schema.field("b").type == pa.uint64()
    assert table.schema.field("c").type == pa.list_(pa.float64())
    assert table.schema.field("e").type == pa.binary()
    assert table.column("a").to_pylist() == cols["a"][3]
