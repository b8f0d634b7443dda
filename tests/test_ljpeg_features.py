"""JPEG Lossless features the PyPI encoders do not produce, from a test-only encoder.

tests/ljpeg_encoder.py writes T.81 Annex H streams with restart intervals, DNL, one scan per
component, point transforms, fill bytes, redefined tables, SSSS=16 and forced modulo-2^16
wraps.  Lossless decoding must give back exactly the values the encoder started from, an
oracle independent of any decoder; libjpeg-turbo (through imagecodecs) is asked too where it
accepts the stream.
"""

from __future__ import annotations

import numpy as np
import pytest

import ljpeg_encoder as enc
import turbodicom

JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"

pytestmark = pytest.mark.skipif(
    JPEG_LOSSLESS not in turbodicom.features()["decode"],
    reason="this build of turbodicom has no JPEG Lossless decoder (features()['decode'])")


def _image(shape, precision, seed, kind="smooth"):
    rng = np.random.default_rng(seed)
    hi = (1 << precision) - 1
    if kind == "noise":
        return rng.integers(0, hi + 1, shape)
    if kind == "extremes":
        return rng.choice([0, hi], shape)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    base = (np.sin(xx / 3.0) + np.cos(yy / 2.0) + 2) / 4 * hi
    base = base[:, :, None] if len(shape) == 3 else base
    return np.clip(base + rng.normal(0, max(1, hi / 100), shape), 0, hi).astype(np.int64)


def _expected(internal, pt, bits_allocated):
    """Reconstruction: (value << Pt) modulo 2^16, in the output container."""
    v = (np.asarray(internal, np.int64) << pt) & 0xFFFF
    return v.astype(np.uint8 if bits_allocated == 8 else "<u2")


def _decode(stream, shape, precision):
    rows, cols = shape[:2]
    spp = shape[2] if len(shape) == 3 else 1
    ba = 8 if precision <= 8 else 16
    out = turbodicom.decode_frame(stream, JPEG_LOSSLESS, rows=rows, columns=cols,
                                  samples_per_pixel=spp, bits_allocated=ba,
                                  bits_stored=precision)
    return np.frombuffer(out, np.uint8 if ba == 8 else "<u2").reshape(shape), ba


FEATURES = {
    "restart-every-row": dict(restart_interval=11),
    "restart-every-3-rows-fill": dict(restart_interval=33, fill_bytes=3),
    "dnl": dict(dnl=True),
    "point-transform-3": dict(Pt=3),
    "separate-dht": dict(separate_dht=True),
    "sof-after-dht": dict(sof_before_dht=False),
    "missing-eoi": dict(eoi=False),
    "no-app": dict(app=False),
    "short-codes-max-12": dict(maxlen=12),
}


@pytest.mark.parametrize("feature", list(FEATURES))
@pytest.mark.parametrize("predictor", [1, 4, 7])
@pytest.mark.parametrize("precision", [6, 12, 16])
def test_features_single_component(feature, predictor, precision):
    kw = FEATURES[feature]
    pt = kw.get("Pt", 0)
    if pt >= precision - 1:
        pytest.skip("point transform needs P - Pt >= 2")
    img = _image((9, 11), precision, seed=precision + predictor)
    stream = enc.encode(img, precision, predictor=predictor, **kw)
    got, ba = _decode(stream, (9, 11), precision)
    internal = img >> pt
    np.testing.assert_array_equal(got, _expected(internal, pt, ba))


LAYOUTS = [(lay, n) for lay in ("interleaved", "per-component") for n in (2, 3, 4)]
LAYOUTS.append(("two-plus-one", 3))


@pytest.mark.parametrize("layout,ncomp", LAYOUTS, ids=[f"{lay}-{n}" for lay, n in LAYOUTS])
def test_components_and_scans(layout, ncomp):
    shape = (7, 10, ncomp)
    img = _image(shape, 12, seed=ncomp)
    scans = {"interleaved": None, "per-component": [[c] for c in range(ncomp)],
             "two-plus-one": [[0, 1], [2]]}[layout]
    table_ids = [c % 2 for c in range(ncomp)]
    stream = enc.encode(img, 12, predictor=6, scans=scans, table_ids=table_ids,
                        redefine_tables=layout != "interleaved")
    got, ba = _decode(stream, shape, 12)
    np.testing.assert_array_equal(got, _expected(img, 0, ba))


@pytest.mark.parametrize("precision", [8, 12, 16])
def test_arithmetic_wraps_modulo_2_16(precision):
    """Vendor streams (Philips/Samsung US) carry values that only make sense modulo 2^16:
    the reconstruction must wrap, as libjpeg-turbo and GDCM do, not clamp."""
    rng = np.random.default_rng(precision)
    internal = rng.integers(0, 1 << 16, (8, 9))  # beyond 2^P: forces wrapped differences
    stream = enc.encode(np.zeros((8, 9), np.int64), precision, predictor=1,
                        internal=internal)
    got, ba = _decode(stream, (8, 9), precision)
    np.testing.assert_array_equal(got, _expected(internal, 0, ba))
    imagecodecs = pytest.importorskip("imagecodecs")
    turbo = imagecodecs.jpeg8_decode(stream)
    np.testing.assert_array_equal(got, np.asarray(turbo).astype(got.dtype).reshape(got.shape))


def test_ssss_16_difference_32768():
    img = np.zeros((4, 6), np.int64)
    img[:, 1::2] = 0xFFFF  # 0 -> 65535 -> 0: differences of +-32768 wrap to SSSS 16
    img[0, 0] = 0x8000
    stream = enc.encode(img, 16, predictor=1)
    got, ba = _decode(stream, (4, 6), 16)
    np.testing.assert_array_equal(got, _expected(img, 0, ba))


def test_extremes_and_noise_all_predictors():
    for predictor in range(1, 8):
        for kind in ("noise", "extremes"):
            img = _image((6, 7), 16, seed=predictor, kind=kind)
            stream = enc.encode(img, 16, predictor=predictor)
            got, ba = _decode(stream, (6, 7), 16)
            np.testing.assert_array_equal(got, _expected(img, 0, ba), f"{predictor} {kind}")
