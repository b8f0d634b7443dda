"""The ITU-T T.803 | ISO/IEC 15444-4 JPEG 2000 conformance set as a test harness.

The data (codestreams, Class 1 reference images as PGX, ``TOLERANCES.tsv``) is not part of the
repository; its location is ``$TURBODICOM_J2K_CONFORMANCE`` or
``<repo>/../shared/j2k/conformance``.  Tests that need it are skipped with a clear reason when it
is absent (see ``requires_conformance``).

``TOLERANCES.tsv`` has one row per checked component: ``codestream``, ``reduce`` (resolution
levels discarded before comparing), ``component`` (index in the decoded image), ``reference``
(a PGX file under ``references/``), ``max_abs_error`` and ``mse`` (the largest allowed peak
absolute error and mean squared error) and ``suite``.  A codestream conforms when every one of
its rows holds.

:func:`check` runs any decoder over one codestream: the decoder is a callable
``decode(codestream: bytes, reduce: int)`` returning an ndarray ``(rows, cols)`` or
``(rows, cols, components)``, or a list of per-component 2-D arrays (what
``turbodicom.j2k.decode`` returns when components differ in size or precision).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
CONFORMANCE = Path(os.environ.get("TURBODICOM_J2K_CONFORMANCE")
                   or (REPO.parent / "shared" / "j2k" / "conformance"))
TOLERANCES = CONFORMANCE / "TOLERANCES.tsv"
REFERENCES = CONFORMANCE / "references"

#: ``decode(codestream, reduce)`` -> one array, or a list of per-component 2-D arrays
Decoder = Callable[[bytes, int], "np.ndarray | Sequence[np.ndarray]"]


def conformance_available() -> bool:
    """Whether the conformance tolerance table can be read."""
    return TOLERANCES.is_file()


CONFORMANCE_SKIP_REASON = (
    f"JPEG 2000 conformance data not found at {CONFORMANCE} (set TURBODICOM_J2K_CONFORMANCE to "
    "the folder holding TOLERANCES.tsv and references/)"
)

#: Mark a test that needs the conformance data: skipped, with the reason above, when absent.
requires_conformance = pytest.mark.skipif(not conformance_available(),
                                          reason=CONFORMANCE_SKIP_REASON)


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """One row of TOLERANCES.tsv: one component of one codestream and its allowed error."""

    codestream: str
    reduce: int
    component: int
    reference: str
    max_abs_error: int
    mse: float
    suite: str


@dataclasses.dataclass(frozen=True)
class ComponentResult:
    """How one decoded component compares with its reference image."""

    tolerance: Tolerance
    peak: int | None  # largest |decoded - reference|; None when the component is missing
    mse: float | None
    problem: str = ""  # why it cannot be compared (missing component, shape), else ""

    @property
    def passed(self) -> bool:
        return (not self.problem and self.peak is not None and self.mse is not None
                and self.peak <= self.tolerance.max_abs_error
                and self.mse <= self.tolerance.mse)

    def __str__(self) -> str:
        t = self.tolerance
        if self.problem:
            return f"{t.codestream} reduce {t.reduce} component {t.component}: {self.problem}"
        return (f"{t.codestream} reduce {t.reduce} component {t.component}: peak {self.peak} "
                f"(allowed {t.max_abs_error}), MSE {self.mse:.4g} (allowed {t.mse:g}) "
                f"{'ok' if self.passed else 'FAIL'}")


@functools.lru_cache(maxsize=1)
def tolerances() -> tuple[Tolerance, ...]:
    """Every row of TOLERANCES.tsv (empty when the data is absent)."""
    if not conformance_available():
        return ()
    with open(TOLERANCES, newline="", encoding="utf-8") as f:
        return tuple(
            Tolerance(r["codestream"], int(r["reduce"]), int(r["component"]), r["reference"],
                      int(r["max_abs_error"]), float(r["mse"]), r["suite"])
            for r in csv.DictReader(f, delimiter="\t"))


def codestreams(prefixes: Sequence[str]) -> list[str]:
    """Names of the codestreams in TOLERANCES.tsv whose name starts with one of `prefixes`."""
    seen: dict[str, None] = {}
    for t in tolerances():
        if t.codestream.startswith(tuple(prefixes)):
            seen.setdefault(t.codestream)
    return list(seen)


#: Part 1 (EBCOT) codestreams: profile 0, profile 1 and the high-fidelity one (22)
PART1_PREFIXES = ("p0_", "p1_", "hifi_p1_")
#: Part 15 (HTJ2K) codestreams, including the mixed HT / Part 1 ones (34)
HT_PREFIXES = ("ds0_ht_", "ds1_ht_", "ds0_hm_", "hifi_ht1_")


def read_codestream(name: str) -> bytes:
    """The bytes of one conformance codestream."""
    return (CONFORMANCE / name).read_bytes()


_PGX_HEADER = re.compile(
    rb"PG[ \t]+(ML|LM)[ \t]*([+-]?)[ \t]*(\d+)[ \t]+(\d+)[ \t]+(\d+)[ \t]*\r?\n")


def read_pgx(path: str | os.PathLike) -> np.ndarray:
    """One PGX image (a single component) as a 2-D int64 array.

    The header is ``PG <ML|LM> [+|-]<depth> <width> <height>``: ``ML`` big-endian samples,
    ``LM`` little-endian, a leading ``-`` signed; then width x height samples of 1, 2 or 4 bytes
    by depth.
    """
    data = Path(path).read_bytes()
    m = _PGX_HEADER.match(data)
    if m is None:
        raise ValueError(f"{path}: not a PGX header: {data[:32]!r}")
    order, sign, depth, width, height = (m.group(1), m.group(2), int(m.group(3)),
                                         int(m.group(4)), int(m.group(5)))
    nbytes = 1 if depth <= 8 else 2 if depth <= 16 else 4
    dtype = np.dtype(f"{'>' if order == b'ML' else '<'}{'i' if sign == b'-' else 'u'}{nbytes}")
    body = data[m.end():]
    if len(body) != width * height * nbytes:
        raise ValueError(f"{path}: {len(body)} sample bytes, expected {width}x{height}x{nbytes}")
    return np.frombuffer(body, dtype=dtype).reshape(height, width).astype(np.int64)


@functools.lru_cache(maxsize=64)
def reference(name: str) -> np.ndarray:
    """A reference component (cached; read-only)."""
    arr = read_pgx(REFERENCES / name)
    arr.flags.writeable = False
    return arr


def components(decoded: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """A decoder's output as a list of 2-D per-component arrays."""
    if isinstance(decoded, np.ndarray):
        if decoded.ndim == 2:
            return [decoded]
        if decoded.ndim == 3:
            return [decoded[..., k] for k in range(decoded.shape[2])]
        raise ValueError(f"decoded array has {decoded.ndim} dimensions, expected 2 or 3")
    return [np.asarray(c) for c in decoded]


def compare(tol: Tolerance, comps: Sequence[np.ndarray]) -> ComponentResult:
    """Compare one decoded component with its reference under `tol`."""
    if tol.component >= len(comps):
        return ComponentResult(tol, None, None, f"decoded {len(comps)} component(s)")
    got = np.asarray(comps[tol.component])
    ref = reference(tol.reference)
    if got.shape != ref.shape:
        return ComponentResult(tol, None, None,
                               f"decoded shape {got.shape}, reference {ref.shape}")
    diff = got.astype(np.int64) - ref
    return ComponentResult(tol, int(np.abs(diff).max()) if diff.size else 0,
                           float(np.mean(diff.astype(np.float64) ** 2)) if diff.size else 0.0)


def check(decode: Decoder, name: str) -> list[ComponentResult]:
    """Decode codestream `name` with `decode` at every `reduce` its rows ask for.

    Returns one :class:`ComponentResult` per TOLERANCES.tsv row of that codestream.  A decoder
    exception propagates (the caller decides whether a failing decoder is a test failure or a
    count in a survey).
    """
    rows = [t for t in tolerances() if t.codestream == name]
    if not rows:
        raise KeyError(f"{name} has no row in {TOLERANCES}")
    data = read_codestream(name)
    decoded: dict[int, list[np.ndarray]] = {}
    results = []
    for tol in rows:
        if tol.reduce not in decoded:
            decoded[tol.reduce] = components(decode(data, tol.reduce))
        results.append(compare(tol, decoded[tol.reduce]))
    return results


def conforms(decode: Decoder, name: str) -> tuple[bool, str]:
    """(whether `name` decodes within every tolerance, a one-line-per-component summary).

    A decoder that raises does not conform; its exception is the summary.
    """
    try:
        results = check(decode, name)
    except Exception as exc:  # noqa: BLE001 - a survey counts a failing decoder as a fail
        return False, f"{name}: {type(exc).__name__}: {exc}"
    return all(r.passed for r in results), "\n".join(str(r) for r in results)


def assert_conforms(decode: Decoder, name: str) -> None:
    """Fail, listing every component, unless `name` decodes within its tolerances."""
    results = check(decode, name)
    bad = [r for r in results if not r.passed]
    assert not bad, "\n".join(str(r) for r in results)


# ------------------------------------------------------------------------------------------
# Decoders over OpenJPEG, the oracles that prove this harness right
# ------------------------------------------------------------------------------------------
def glymur_decoder(tmpdir: str | os.PathLike) -> Decoder:
    """The system OpenJPEG through glymur (ctypes; it reads files, so each stream is written)."""
    import glymur

    def decode(data: bytes, reduce: int) -> np.ndarray | list[np.ndarray]:
        path = Path(tmpdir) / f"glymur_{abs(hash(data))}.j2k"
        path.write_bytes(data)
        image = glymur.Jp2k(str(path))
        # read_bands gives one array when the components agree in size, else a list of them
        bands = image.read_bands(rlevel=reduce)
        return bands if isinstance(bands, np.ndarray) else [np.asarray(c) for c in bands]

    return decode


def imagecodecs_decode(data: bytes, reduce: int) -> np.ndarray:
    """imagecodecs' bundled OpenJPEG, one thread (it has no `reduce`: refuses anything but 0)."""
    import imagecodecs

    if reduce:
        raise NotImplementedError("imagecodecs.jpeg2k_decode has no reduce option")
    return imagecodecs.jpeg2k_decode(data, numthreads=1)


def pylibjpeg_openjpeg_decode(data: bytes, reduce: int) -> np.ndarray:
    """pylibjpeg-openjpeg's bundled OpenJPEG (it has no `reduce`: refuses anything but 0)."""
    import openjpeg

    if reduce:
        raise NotImplementedError("openjpeg.decode has no reduce option")
    return openjpeg.decode(data, j2k_format=0)


def adapter_decode(data: bytes, reduce: int) -> np.ndarray:
    """turbodicom's OpenJPEG adapter (``turbodicom._j2k``, the system OpenJPEG).

    It writes interleaved samples in the codestream's natural container and refuses components
    of different sizes, as DICOM has no layout for them.
    """
    from turbodicom import _j2k

    hdr = _j2k.read_header(data)
    rows, cols = _j2k.reduced_dims(data, reduce)
    dtype = np.dtype(f"{'i' if hdr['is_signed'] else 'u'}{hdr['bytes_per_sample']}")
    out = np.empty((rows, cols, hdr["components"]), dtype=dtype)
    _j2k.decode_into(data, out.reshape(-1).view(np.uint8), reduce=reduce, threads=1)
    return out[..., 0] if hdr["components"] == 1 else out
