"""Tag scanning: turbodicom.scan against dicomsdl and pydicom, side by side.

~2,000 files (the corpus scanned 4 times over; pydicom's bundled files without it), 10 tags,
page cache warm, one thread unless the test says otherwise::

    python -m pytest benchmarks/test_scan.py --benchmark-group-by=group
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import pytest

import turbodicom

CORPUS = Path(os.environ.get("TURBODICOM_CORPUS")
              or Path(__file__).resolve().parent.parent.parent / "shared" / "corpus")

TAGS = ["PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Modality",
        "InstanceNumber", "ImagePositionPatient", "Rows", "Columns", "TransferSyntaxUID"]


def _files() -> list[str]:
    files = []
    if (CORPUS / "MANIFEST.tsv").is_file():
        with open(CORPUS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
            files = [str(CORPUS / r["path"]) for r in csv.DictReader(f, delimiter="\t")]
    if not files:
        from pydicom.data import get_testdata_file

        folder = os.path.dirname(get_testdata_file("CT_small.dcm", download=False))
        files = [os.path.join(folder, n) for n in sorted(os.listdir(folder))
                 if n.endswith(".dcm")]
    return files * max(1, round(2000 / len(files)))


FILES = _files()


@pytest.mark.benchmark(group="scan 10 tags")
@pytest.mark.parametrize("threads", [1, 2])
def test_turbodicom(benchmark, threads):
    res = benchmark(turbodicom.scan, FILES, TAGS, threads=threads)
    assert len(res) == len(FILES)


@pytest.mark.benchmark(group="scan 10 tags")
def test_dicomsdl(benchmark):
    dicomsdl = pytest.importorskip("dicomsdl")

    def run():
        out = []
        for f in FILES:
            try:
                d = dicomsdl.open_file(f, load_until=0x00280012)
                out.append(d.getValues(TAGS))
            except Exception:  # noqa: BLE001 - a peer's failure is not ours
                out.append(None)
        return out

    benchmark(run)


@pytest.mark.benchmark(group="scan 10 tags")
def test_pydicom(benchmark):
    pydicom = pytest.importorskip("pydicom")

    def run():
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for f in FILES:
                try:
                    ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=TAGS,
                                         force=True)
                    out.append([ds.get(t) for t in TAGS])
                except Exception:  # noqa: BLE001
                    out.append(None)
        return out

    benchmark.pedantic(run, rounds=2, iterations=1)
