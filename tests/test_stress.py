"""Many threads decoding and scanning different files at once give the serial results.

The files are chosen per transfer syntax this build decodes (so every codec, present and future,
is in the mix): pydicom's bundled test files, plus small corpus files when the corpus is
present.  Each task is one entry point (``decode``, ``decode(index=)``, ``iter_frames``,
``decode_frame``, ``scan``) on one file; the same tasks run serially first, then shuffled over
many threads several times, and every result must equal its serial twin byte for byte.  A data
race in a kernel or in the Python glue (shared scratch buffers, a non-reentrant library call,
the frame-table cache, the thread pool inside ``decode``) shows up as a mismatch or a crash.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import pytest

import turbodicom
from turbodicom.codecs import supported_syntaxes
from turbodicom.frames import open_pixels

from conftest import corpus_rows

pydicom = pytest.importorskip("pydicom")

#: Files per transfer syntax, and the largest file taken from the corpus.
PER_SYNTAX = 3
MAX_BYTES = 2 << 20
THREADS = 8
ROUNDS = 3
SCAN_TAGS = ["PatientID", "SOPInstanceUID", "Rows", "Columns", "BitsStored",
             "PhotometricInterpretation", "TransferSyntaxUID", "NumberOfFrames"]
NATIVE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
          "1.2.840.10008.1.2.1.99")


def _digest(arr: np.ndarray) -> tuple[str, tuple[int, ...], str]:
    arr = np.ascontiguousarray(arr)
    return hashlib.md5(arr.tobytes()).hexdigest(), arr.shape, arr.dtype.str


def _candidates() -> list[tuple[str, str]]:
    """(transfer syntax, path) for pydicom's bundled files, then small corpus files."""
    from pydicom.data import get_testdata_file

    found: list[tuple[str, str]] = []
    ct = get_testdata_file("CT_small.dcm", download=False)
    if ct is not None:
        folder = os.path.dirname(ct)
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if not name.endswith(".dcm"):
                continue
            try:
                with warnings.catch_warnings():  # pydicom's notes on odd files
                    warnings.simplefilter("ignore")
                    ds = pydicom.dcmread(path, stop_before_pixels=True)
                found.append((str(ds.file_meta.TransferSyntaxUID), path))
            except Exception:  # noqa: BLE001 - a file pydicom cannot read is no candidate
                continue
    for row in corpus_rows(lambda r: r["transfer_syntax_uid"] != ""):
        if os.path.getsize(row["abspath"]) <= MAX_BYTES:
            found.append((row["transfer_syntax_uid"], row["abspath"]))
    return found + _generated({uid for uid, _ in found})


def _generated(have: set[str]) -> list[tuple[str, str]]:
    """Files made on the spot for syntaxes neither pydicom nor the corpus supplied (pydicom
    3.0 bundles no HTJ2K file): frames encoded by OpenJPH through imagecodecs."""
    imagecodecs = pytest.importorskip("imagecodecs")
    from dicom_factory import encapsulated_file

    made: list[tuple[str, str]] = []
    htj2k = "1.2.840.10008.1.2.4.201"
    if htj2k not in have and htj2k in supported_syntaxes():
        rng = np.random.default_rng(14)
        frames = [rng.integers(0, 4096, (64, 80), dtype=np.uint16) for _ in range(3)]
        data = encapsulated_file([imagecodecs.htj2k_encode(f, reversible=True) for f in frames],
                                 transfer_syntax=htj2k, rows=64, columns=80,
                                 bits_allocated=16, bits_stored=12)
        path = os.path.join(_GENERATED_DIR, "htj2k_3f.dcm")
        with open(path, "wb") as f:
            f.write(data)
        made.append((htj2k, path))
    return made


_GENERATED_DIR = tempfile.mkdtemp(prefix="td-stress-")


def _files() -> list[tuple[str, str, int]]:
    """Up to PER_SYNTAX decodable files per syntax: (syntax, path, number of frames)."""
    wanted = set(supported_syntaxes()) | set(NATIVE)
    chosen: dict[str, list[tuple[str, str, int]]] = {}
    for uid, path in _candidates():
        if uid not in wanted or len(chosen.get(uid, [])) >= PER_SYNTAX:
            continue
        try:
            arr = turbodicom.decode(path, threads=1)
        except (turbodicom.TurboDicomError, ValueError, NotImplementedError):
            continue
        if arr.size == 0:
            continue
        with open_pixels(path) as px:
            nframes = px.module.number_of_frames
        chosen.setdefault(uid, []).append((uid, path, nframes))
    return [f for files in chosen.values() for f in files]


FILES = _files()


def _tasks() -> list[tuple[str, Callable[[], Any]]]:
    """(name, zero-argument callable returning a comparable result) for every file."""
    tasks: list[tuple[str, Callable[[], Any]]] = []
    for uid, path, nframes in FILES:
        base = os.path.basename(path)
        tasks.append((f"decode {base}", lambda p=path: _digest(turbodicom.decode(p, threads=1))))
        tasks.append((f"decode threads=2 {base}",
                      lambda p=path: _digest(turbodicom.decode(p, threads=2))))
        last = nframes - 1
        tasks.append((f"decode index={last} {base}",
                      lambda p=path, i=last: _digest(turbodicom.decode(p, index=i))))
        tasks.append((f"iter_frames {base}",
                      lambda p=path: [_digest(f) for f in turbodicom.iter_frames(p)]))
        tasks.append((f"scan {base}", lambda p=path: _scan_row(p)))
        if uid not in NATIVE:
            tasks.append((f"decode_frame {base}", lambda p=path: _decode_frame(p)))
    return tasks


def _scan_row(path: str) -> dict[str, Any]:
    row = turbodicom.scan([path], SCAN_TAGS, threads=1)[0]
    return {k: v for k, v in row.items() if k != "path"}


def _decode_frame(path: str) -> Any:
    """The first frame through the low-level entry point, described by the file's module."""
    with open_pixels(path) as px:
        m = px.module
        frame = bytes(px.frame(0))
    out = turbodicom.decode_frame(
        frame, m.transfer_syntax_uid, rows=m.rows, columns=m.columns,
        samples_per_pixel=m.samples_per_pixel, bits_allocated=m.bits_allocated,
        bits_stored=m.bits_stored, pixel_representation=m.pixel_representation,
        planar_configuration=m.planar_configuration,
        photometric_interpretation=m.photometric_interpretation)
    return hashlib.md5(bytes(out)).hexdigest(), len(out)


def test_the_mix_covers_every_codec_of_this_build():
    covered = {uid for uid, _, _ in FILES}
    assert FILES, "no decodable file found"
    codecs = {turbodicom.codecs.codec_for(uid).name for uid in covered if uid not in NATIVE}
    assert codecs == set(turbodicom.features()["codecs"]), (
        f"the stress mix lacks codecs: {set(turbodicom.features()['codecs']) - codecs}")


def test_many_threads_decoding_and_scanning_equal_serial():
    tasks = _tasks()
    serial: dict[str, Any] = {}
    for name, fn in tasks:
        try:
            serial[name] = ("ok", fn())
        except Exception as exc:  # noqa: BLE001 - errors must repeat identically too
            serial[name] = ("error", type(exc).__name__, str(exc))

    def run(item: tuple[str, Callable[[], Any]]) -> tuple[str, Any]:
        name, fn = item
        try:
            return name, ("ok", fn())
        except Exception as exc:  # noqa: BLE001
            return name, ("error", type(exc).__name__, str(exc))

    rng = random.Random(1234)
    mismatches = []
    for _ in range(ROUNDS):
        order = tasks * 2
        rng.shuffle(order)
        with ThreadPoolExecutor(THREADS) as ex:
            for name, result in ex.map(run, order):
                if result != serial[name]:
                    mismatches.append((name, serial[name], result))
    assert not mismatches, mismatches[:5]
    assert sum(1 for r in serial.values() if r[0] == "ok") >= len(tasks) - len(FILES), (
        "most serial tasks should succeed: the mix would test nothing otherwise")
