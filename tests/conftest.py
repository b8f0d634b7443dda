"""Shared test configuration: the real-file corpus, pydicom's bundled files, plugin state.

The corpus (``MANIFEST.tsv`` plus ~500 real DICOM files) lives outside the repository; its
location is ``$TURBODICOM_CORPUS`` or ``<repo>/../shared/corpus``.  Tests that need it are
skipped with a clear reason when it is absent; everything else runs on pydicom's bundled test
files and on files generated here with pydicom's own encoders (see ``dicom_factory.py``).
"""

from __future__ import annotations

import csv
import functools
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("TURBODICOM_CORPUS") or (REPO.parent / "shared" / "corpus"))
MANIFEST = CORPUS / "MANIFEST.tsv"
CRASHERS = Path(__file__).resolve().parent / "data" / "crashers"

RLE_LOSSLESS = "1.2.840.10008.1.2.5"


def corpus_available() -> bool:
    """Whether the corpus manifest can be read."""
    return MANIFEST.is_file()


CORPUS_SKIP_REASON = (
    f"real-file corpus not found at {CORPUS} (set TURBODICOM_CORPUS to the folder holding "
    "MANIFEST.tsv)"
)

#: Mark a test that needs the corpus: skipped, with the reason above, when it is absent.
requires_corpus = pytest.mark.skipif(not corpus_available(), reason=CORPUS_SKIP_REASON)


@functools.lru_cache(maxsize=1)
def _manifest() -> tuple[dict[str, str], ...]:
    with open(MANIFEST, newline="", encoding="utf-8") as f:
        return tuple(csv.DictReader(f, delimiter="\t"))


def corpus_rows(predicate=None) -> list[dict[str, str]]:
    """The rows of the corpus ``MANIFEST.tsv`` (empty when the corpus is absent).

    Each row is a dict keyed by the manifest's columns (``path``, ``transfer_syntax_uid``,
    ``frames``, ``expected_md5``, ``lossy``, ``odd_flags``, ...) plus ``abspath``.  `predicate`,
    if given, filters the rows.
    """
    if not corpus_available():
        return []
    rows = []
    for row in _manifest():
        row = dict(row)
        row["abspath"] = str(CORPUS / row["path"])
        if predicate is None or predicate(row):
            rows.append(row)
    return rows


def corpus_params(rows: list[dict[str, str]]) -> list:
    """pytest params for corpus rows, identified by their relative path (so failures name it)."""
    return [pytest.param(r, id=r["path"]) for r in rows]


# ------------------------------------------------------------------------------------------
# pydicom's bundled test files (never downloaded: only those shipped inside pydicom itself)
# ------------------------------------------------------------------------------------------

def truncations(data: bytes, steps: int) -> list[bytes]:
    """`data` cut at about `steps` evenly spaced lengths (0 included), for hostile-input tests."""
    return [data[:cut] for cut in range(0, len(data), max(1, len(data) // steps))]


def bit_flips(data: bytes, count: int, seed: int) -> list[bytes]:
    """`count` copies of `data` with 1-4 random bits flipped each (deterministic for `seed`)."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        out.append(bytes(b))
    return out


def fills_every_byte(decode, size: int) -> bool | None:
    """decode(out) into buffers of `size` bytes full of 0x00 and of 0xFF: None when it raises
    turbodicom's error, else whether both came out the same (every byte written), which a
    decoder handed uncleared buffers (Codec.fills_output) must ensure."""
    import turbodicom

    outs = []
    for fill in (0x00, 0xFF):
        out = bytearray([fill]) * size
        try:
            decode(out)
        except turbodicom.TurboDicomError:
            return None
        outs.append(out)
    return outs[0] == outs[1]


def block_openjpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make turbodicom's OpenJPEG binding (_j2k, the tests' oracle) unimportable, as in a build
    without libopenjp2: a decode path that still reaches for it raises ImportError."""
    import sys

    import turbodicom

    monkeypatch.delattr(turbodicom, "_j2k", raising=False)
    monkeypatch.setitem(sys.modules, "turbodicom._j2k", None)


def pydicom_file(name: str) -> str:
    """Absolute path of a test file bundled inside pydicom (no network access)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:  # pragma: no cover - depends on the pydicom install
        pytest.fail(f"pydicom's bundled test file {name!r} is missing from this install")
    return str(path)


# ------------------------------------------------------------------------------------------
# pydicom plugin state: every test starts and ends with turbodicom unregistered
# ------------------------------------------------------------------------------------------
def _turbodicom_labels() -> set[str]:
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.pixels.encoders.base import get_encoder

    decoder, encoder = get_decoder(RLE_LOSSLESS), get_encoder(RLE_LOSSLESS)
    labels = set(decoder._available) | set(decoder._unavailable)
    labels |= set(encoder._available) | set(encoder._unavailable)
    return labels


@pytest.fixture(autouse=True)
def _plugin_state_is_restored():
    """Leave pydicom's plugin registry as we found it: turbodicom unregistered."""
    yield
    import turbodicom

    turbodicom.unregister()


@pytest.fixture
def unregistered():
    """turbodicom is not registered with pydicom (pydicom's own decoders only)."""
    import turbodicom

    turbodicom.unregister()
    assert "turbodicom" not in _turbodicom_labels()
    yield


@pytest.fixture
def registered():
    """turbodicom registered with pydicom and preferred."""
    import turbodicom

    turbodicom.register(prefer=True)
    yield
    turbodicom.unregister()


# ------------------------------------------------------------------------------------------
# Generated data, built once per session
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def reference_files(tmp_path_factory):
    """{case name: path} for every case of tests/reference.py (generated ones written once)."""
    import reference

    root = tmp_path_factory.mktemp("reference")
    return {case.name: case.path(root) for case in reference.CASES}


@pytest.fixture(scope="session")
def big_rle_multiframe():
    """64 frames of 512x512 16-bit noise-and-gradient, RLE encoded, as Part 10 bytes.

    Returns ``(file_bytes, source_array)``.
    """
    import numpy as np

    import dicom_factory as fac

    rng = np.random.default_rng(64)
    y, x = np.mgrid[0:512, 0:512]
    base = (x * 37 + y * 11).astype(np.uint16)
    frames = np.empty((64, 512, 512), dtype=np.uint16)
    for i in range(64):
        noise = rng.integers(0, 16, size=(512, 512), dtype=np.uint16)
        frames[i] = base + noise * (i % 4) + i
    data = fac.rle_file(frames, bits_allocated=16, bits_stored=16, encoder="turbodicom")
    return data, frames


class RleStream:
    """One encoded RLE frame of a reference case and its expected decode_frame output."""

    def __init__(self, name: str, data: bytes, kwargs: dict, expected: bytes):
        self.name = name
        self.data = data
        self.kwargs = kwargs
        self.expected = expected

    def __repr__(self) -> str:
        return f"RleStream({self.name})"


@pytest.fixture(scope="session")
def rle_streams(reference_files):
    """{case name: RleStream}: the first frame of every RLE reference case, decoded.

    Expected output comes from pydicom's pure-Python RLE decoder (re-interleaved), or for
    Bits Allocated 1 (which pydicom cannot decode) from the generator's truth, bit-packed.
    """
    import numpy as np
    from pydicom.pixels.decoders.rle import _rle_decode_frame

    import dicom_factory as fac
    import reference

    streams = {}
    for case in reference.RLE_CASES:
        frame, ds = next(iter(fac.iter_frame_bytes(reference_files[case.name])))
        kwargs = dict(rows=ds.Rows, columns=ds.Columns, samples_per_pixel=ds.SamplesPerPixel,
                      bits_allocated=ds.BitsAllocated)
        if ds.BitsAllocated == 1:
            truth = case.truth()[0]
            expected = np.packbits(truth.ravel(), bitorder="little").tobytes()
        else:
            planar = _rle_decode_frame(frame, ds.Rows, ds.Columns, ds.SamplesPerPixel,
                                       ds.BitsAllocated)
            expected = fac.planar_to_interleaved(planar, ds.Rows, ds.Columns,
                                                 ds.SamplesPerPixel, ds.BitsAllocated // 8)
        streams[case.name] = RleStream(case.name, bytes(frame), kwargs, expected)
    return streams
