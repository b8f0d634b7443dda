"""JPEG 2000 conformance (ITU-T T.803 | ISO/IEC 15444-4): turbodicom.j2k.decode vs the references.

Every Part 1 codestream (p0_*, p1_*, hifi_p1_02: 22) must decode within its per-component
tolerances (TOLERANCES.tsv) through ``turbodicom.j2k.decode``, and so must every HTJ2K codestream
(ds0_ht_*, ds1_ht_*, the mixed ds0_hm_*, hifi_ht1_02: 34; the HT block decoder of issue 14).

The harness itself (tests/j2k_conformance.py) is proven by an oracle: the system OpenJPEG through
glymur passes the Part 1 set, and a decode perturbed by one more than its tolerance is refused.

Skipped, with the reason, when the conformance data is absent (``TURBODICOM_J2K_CONFORMANCE``).
"""

from __future__ import annotations

import numpy as np
import pytest

import j2k_conformance as jc

pytestmark = jc.requires_conformance

PART1 = jc.codestreams(jc.PART1_PREFIXES)
HT = jc.codestreams(jc.HT_PREFIXES)


def _params(names: list[str]) -> list:
    return [pytest.param(n, id=n.removesuffix(".j2k")) for n in names]


def turbodicom_decode(data: bytes, reduce: int):
    """``turbodicom.j2k.decode`` (imported here so that collection works without it)."""
    from turbodicom import j2k

    return j2k.decode(data, reduce=reduce)


def test_conformance_set_is_complete():
    """The data holds the 22 Part 1 and 34 HTJ2K codestreams, each with its references."""
    assert len(PART1) == 22, PART1
    assert len(HT) == 34, HT
    for t in jc.tolerances():
        assert (jc.CONFORMANCE / t.codestream).is_file(), t.codestream
        assert (jc.REFERENCES / t.reference).is_file(), t.reference


# ------------------------------------------------------------------------------------------
# turbodicom's own decoder (issue 13)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _params(PART1))
def test_part1(name):
    jc.assert_conforms(turbodicom_decode, name)


@pytest.mark.parametrize("name", _params(PART1))
def test_part1_two_threads_equal_one(name):
    """Code-blocks decoded in parallel give the very same samples as one thread."""
    from turbodicom import j2k

    data = jc.read_codestream(name)
    reduce = min(t.reduce for t in jc.tolerances() if t.codestream == name)
    one = jc.components(j2k.decode(data, reduce=reduce, threads=1))
    two = jc.components(j2k.decode(data, reduce=reduce, threads=2))
    assert len(one) == len(two)
    for a, b in zip(one, two):
        assert a.dtype == b.dtype and np.array_equal(a, b)


# ------------------------------------------------------------------------------------------
# HTJ2K (issue 14): the same harness over the HT block decoder (csrc/j2k/ht.c)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _params(HT))
def test_htj2k(name):
    jc.assert_conforms(turbodicom_decode, name)


@pytest.mark.parametrize("name", _params(HT))
def test_htj2k_two_threads_equal_one(name):
    test_part1_two_threads_equal_one(name)


# ------------------------------------------------------------------------------------------
# The harness is right: an independent decoder passes, a wrong decode is refused
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _params(PART1))
def test_oracle_system_openjpeg(name, tmp_path):
    """The system OpenJPEG (glymur's ctypes binding) decodes every Part 1 codestream within
    tolerance: the PGX reader, the component split, `reduce` and the limits are right."""
    pytest.importorskip("glymur", reason="glymur (the system OpenJPEG) is the harness oracle")
    jc.assert_conforms(jc.glymur_decoder(tmp_path), name)


#: small codestreams covering the harness's paths: exact 8-bit, signed 4-bit, lossy RGB
#: tolerances, four subsampled components, 12-bit little-endian (LM) references
HARNESS_SAMPLE = ["p0_01.j2k", "p0_03.j2k", "p0_04.j2k", "p0_06.j2k", "hifi_p1_02.j2k"]


@pytest.mark.parametrize("name", _params([n for n in PART1 if n in HARNESS_SAMPLE]))
def test_harness_refuses_a_wrong_decode(name, tmp_path):
    """The oracle's decode with one sample moved one past its tolerance fails the harness."""
    pytest.importorskip("glymur", reason="glymur (the system OpenJPEG) is the harness oracle")
    oracle = jc.glymur_decoder(tmp_path)
    results = jc.check(oracle, name)
    worst = results[0]
    ref = jc.reference(worst.tolerance.reference)

    def perturbed(data: bytes, reduce: int):
        comps = [c.astype(np.int64) for c in jc.components(oracle(data, reduce))]
        c = comps[worst.tolerance.component]
        # at the reference's first sample, land one beyond the allowed peak error
        c.flat[0] = ref.flat[0] + worst.tolerance.max_abs_error + 1
        return comps

    bad = jc.check(perturbed, name)
    assert not bad[0].passed, str(bad[0])
    assert bad[0].peak == worst.tolerance.max_abs_error + 1


def test_harness_refuses_wrong_shapes():
    """A decoder that drops a component, or returns another size, fails (never passes)."""
    name = next(n for n in PART1 if n.startswith("p0_10"))  # three equal components

    def one_component(data: bytes, reduce: int):
        return np.zeros(jc.reference("c1p0_10-0.pgx").shape, np.int64)

    def transposed(data: bytes, reduce: int):
        return [jc.reference(t.reference).T for t in jc.tolerances() if t.codestream == name]

    missing = jc.check(one_component, name)
    assert [r.passed for r in missing[1:]] == [False, False]
    assert all(r.problem == "decoded 1 component(s)" for r in missing[1:])
    assert not any(r.passed for r in jc.check(transposed, name))


def test_read_pgx_byte_orders(tmp_path):
    """PGX: ML big-endian, LM little-endian, signed and unsigned, 1 and 2 byte samples."""
    arr = np.array([[-3, 0, 2047], [5, -2048, 7]], dtype=np.int64)
    for order, dt in (("ML", ">i2"), ("LM", "<i2")):
        path = tmp_path / f"{order}.pgx"
        path.write_bytes(f"PG {order} -12 3 2\n".encode() + arr.astype(dt).tobytes())
        assert np.array_equal(jc.read_pgx(path), arr)
    path = tmp_path / "u8.pgx"
    path.write_bytes(b"PG ML +8 2 1\n" + bytes([0, 255]))
    assert jc.read_pgx(path).tolist() == [[0, 255]]
