"""The pydicom plugins: registration, decoding through pydicom, the RLE encoder plugin."""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.encoders.base import get_encoder
from pydicom.uid import RLELossless

import turbodicom
from turbodicom import pydicom_plugin

import dicom_factory as fac
import reference
from conftest import pydicom_file

ENCAPSULATED = sorted(uid for uid, codec in turbodicom.features()["decode"].items()
                      if codec != "native")


# ------------------------------------------------------------------------------------------
# register() / unregister()
# ------------------------------------------------------------------------------------------
def test_there_is_something_to_register():
    assert RLELossless in ENCAPSULATED
    for uid in ENCAPSULATED:
        assert pydicom_plugin.is_available(uid)
        assert uid in pydicom_plugin.DECODER_DEPENDENCIES
    assert RLELossless in pydicom_plugin.ENCODER_DEPENDENCIES


def test_register_puts_turbodicom_first_everywhere(unregistered):
    before = {uid: list(get_decoder(uid)._available) for uid in ENCAPSULATED}
    turbodicom.register()
    for uid in ENCAPSULATED:
        labels = list(get_decoder(uid)._available)
        assert labels[0] == "turbodicom", (uid, labels)
        assert labels[1:] == before[uid], "the other plugins keep their order"
    assert list(get_encoder(RLELossless)._available)[0] == "turbodicom"


def test_register_is_idempotent(unregistered):
    turbodicom.register()
    first = {uid: list(get_decoder(uid)._available) for uid in ENCAPSULATED}
    turbodicom.register()
    turbodicom.register(prefer=True)
    for uid in ENCAPSULATED:
        labels = list(get_decoder(uid)._available)
        assert labels == first[uid]
        assert labels.count("turbodicom") == 1
    assert list(get_encoder(RLELossless)._available).count("turbodicom") == 1


def test_prefer_false_puts_turbodicom_last_and_can_move_back(unregistered):
    turbodicom.register(prefer=False)
    assert list(get_decoder(RLELossless)._available)[-1] == "turbodicom"
    assert list(get_encoder(RLELossless)._available)[-1] == "turbodicom"
    turbodicom.register(prefer=True)
    assert list(get_decoder(RLELossless)._available)[0] == "turbodicom"
    turbodicom.register(prefer=False)
    labels = list(get_decoder(RLELossless)._available)
    assert labels[-1] == "turbodicom" and labels.count("turbodicom") == 1


def test_unregister_removes_it(unregistered):
    before = {uid: list(get_decoder(uid)._available) for uid in ENCAPSULATED}
    encoders_before = list(get_encoder(RLELossless)._available)
    turbodicom.register()
    assert pydicom_plugin.is_registered()
    turbodicom.unregister()
    assert not pydicom_plugin.is_registered()
    for uid in ENCAPSULATED:
        assert list(get_decoder(uid)._available) == before[uid]
        assert "turbodicom" not in get_decoder(uid)._unavailable
    assert list(get_encoder(RLELossless)._available) == encoders_before
    turbodicom.unregister()  # a second call is harmless


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)


def test_import_alone_registers_nothing():
    proc = _run_python("""
        import pydicom
        from pydicom.pixels.decoders.base import get_decoder
        from pydicom.pixels.encoders.base import get_encoder
        import turbodicom
        from turbodicom import pydicom_plugin  # importing the plugin module is not registering
        uids = [u for u, c in turbodicom.features()["decode"].items() if c != "native"]
        found = [u for u in uids if "turbodicom" in get_decoder(u)._available
                 or "turbodicom" in get_decoder(u)._unavailable]
        enc = get_encoder("1.2.840.10008.1.2.5")
        assert "turbodicom" not in enc._available, "encoder registered at import"
        assert not found, f"registered at import for {found}"
        turbodicom.register()
        assert list(get_decoder("1.2.840.10008.1.2.5")._available)[0] == "turbodicom"
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_import_does_not_need_pydicom():
    proc = _run_python("""
        import sys
        import turbodicom
        assert "pydicom" not in sys.modules, "import turbodicom imported pydicom"
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# ------------------------------------------------------------------------------------------
# Decoding through pydicom
# ------------------------------------------------------------------------------------------
RLE_PYDICOM_CASES = [c for c in reference.RLE_CASES if "pydicom" in c.oracles]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in RLE_PYDICOM_CASES])
def test_pixel_array_through_the_plugin_equals_pydicoms_own(case, reference_files):
    path = reference_files[case.name]
    expected = fac.pydicom_array(path, plugin="pydicom")
    turbodicom.register()
    fac.assert_same_array(fac.pydicom_array(path, plugin="turbodicom"), expected, "forced")
    fac.assert_same_array(fac.pydicom_array(path), expected, "default options")


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in RLE_PYDICOM_CASES
                                  if "_2F" in c.name or "_3F" in c.name or "_4F" in c.name
                                  or "_15F" in c.name])
def test_single_frame_through_the_plugin(case, reference_files, registered):
    from pydicom.pixels import pixel_array

    path = reference_files[case.name]
    whole = fac.pydicom_array(path, plugin="pydicom")
    ds = fac.read_dataset(path)
    for i in (0, whole.shape[0] - 1):
        fac.assert_same_array(pixel_array(ds, index=i, decoding_plugin="turbodicom"), whole[i])


def test_bits_allocated_1_through_the_plugin(reference_files, registered):
    """pydicom's own RLE plugins cannot decode Bits Allocated 1; through turbodicom it can."""
    case = reference.BY_NAME["RLE_1_1_3F"]
    fac.assert_same_array(fac.pydicom_array(reference_files[case.name], plugin="turbodicom"),
                          case.truth())


def test_plugin_errors_reach_pydicoms_message(reference_files, registered):
    data = bytearray(open(reference_files["RLE_8_3_1F_PC1"], "rb").read())
    frame, _ = next(iter(fac.iter_frame_bytes(bytes(data))))
    pos = data.find(frame[:16])
    data[pos:pos + 4] = b"\x09\x00\x00\x00"  # 9 segments where 3 are needed
    with pytest.raises(RuntimeError, match=r"turbodicom: .*9 segments"):
        fac.pydicom_array(bytes(data), plugin="turbodicom")


def test_segment_order_option_reaches_the_plugin(registered):
    import test_rle

    arr = reference.runs_and_noise((2, 9, 11), "u2", seed=60)
    frames = [test_rle._lsb_first(f, 1, 2) for f in fac.encode_frames(arr, bits_allocated=16)]
    data = fac.rle_file(arr, bits_allocated=16, encoded=frames)
    ds = fac.read_dataset(data)
    ds.pixel_array_options(decoding_plugin="turbodicom", rle_segment_order="<")
    fac.assert_same_array(ds.pixel_array, arr)


class _Runner:
    """Just enough of pydicom's DecodeRunner for the plugin's decode function.

    ``options`` start as pydicom's DecodeRunner sets them (``as_rgb=True``); keyword arguments
    add or override options (``as_rgb=False``, ``rle_segment_order="<"``, ...)."""

    def __init__(self, ds, index=0, **options):
        self.transfer_syntax = ds.file_meta.get("TransferSyntaxUID", RLELossless)
        self.rows, self.columns = ds.Rows, ds.Columns
        self.samples_per_pixel = ds.SamplesPerPixel
        self.bits_allocated, self.bits_stored = ds.BitsAllocated, ds.BitsStored
        self.pixel_representation = ds.PixelRepresentation
        self.planar_configuration = ds.get("PlanarConfiguration", 0)
        self.photometric_interpretation = ds.PhotometricInterpretation
        self.number_of_frames = int(ds.get("NumberOfFrames", 1) or 1)
        self.index = index
        self.options = {"as_rgb": True, **options}
        self.calls = []

    def get_option(self, name, default=None):
        return self.options.get(name, default)


class Runner30(_Runner):
    """pydicom 3.0.x: set_option only, one value per option for the whole dataset."""

    def set_option(self, name, value):
        self.calls.append(("set_option", name, value))
        self.options[name] = value


class Runner31(Runner30):
    """pydicom 3.1 (main): per-frame options through set_frame_option / get_frame_option, and
    ``raw=True`` reaches the plugin as ``as_rgb=False``."""

    def __init__(self, ds, index=0, **options):
        super().__init__(ds, index, **options)
        self.frame_options = {}

    def set_frame_option(self, index, name, value):
        self.calls.append(("set_frame_option", index, name, value))
        self.frame_options.setdefault(index, {})[name] = value

    def get_frame_option(self, index, name, default=None):
        return self.frame_options.get(index, {}).get(name, default)


def _pydicom_rle_frame(frame, ds):
    """pydicom's own RLE decoder: one frame as sample planes (planar configuration 1)."""
    from pydicom.pixels.decoders.rle import _rle_decode_frame

    return bytes(_rle_decode_frame(frame, ds.Rows, ds.Columns, ds.SamplesPerPixel,
                                   ds.BitsAllocated))


@pytest.mark.parametrize("name,index", [("RLE_8_3_2F", 1), ("RLE_16_3_1F", 0),
                                        ("RLE_32_3_2F", 0)])
def test_pydicom31_runner_gets_planar_configuration_per_frame(name, index, reference_files):
    path = reference_files[name]
    frames = list(fac.iter_frame_bytes(path))
    frame, ds = frames[index]
    runner = Runner31(ds, index=index)
    out = pydicom_plugin._decode_frame(frame, runner)
    assert runner.calls == [("set_frame_option", index, "planar_configuration", 1)]
    assert bytes(out) == _pydicom_rle_frame(frame, ds)


@pytest.mark.parametrize("name", ["RLE_8_3_1F", "RLE_16_3_1F"])
def test_pydicom30_runner_gets_planar_configuration_option(name, reference_files):
    frame, ds = next(iter(fac.iter_frame_bytes(reference_files[name])))
    runner = Runner30(ds)
    out = pydicom_plugin._decode_frame(frame, runner)
    assert runner.calls == [("set_option", "planar_configuration", 1)]
    assert bytes(out) == _pydicom_rle_frame(frame, ds)


@pytest.mark.parametrize("runner_class", [Runner30, Runner31])
def test_monochrome_frames_report_planes_like_pydicoms_plugins(runner_class, reference_files):
    """Both of pydicom's RLE plugins set planar configuration 1 for every frame (it is not
    reported for one sample per pixel): so does turbodicom, and sets nothing else."""
    frame, ds = next(iter(fac.iter_frame_bytes(reference_files["RLE_16_1_1F"])))
    runner = runner_class(ds)
    out = pydicom_plugin._decode_frame(frame, runner)
    assert [c[-2:] for c in runner.calls] == [("planar_configuration", 1)]
    assert bytes(out) == _pydicom_rle_frame(frame, ds)


# ------------------------------------------------------------------------------------------
# The RLE encoder plugin
# ------------------------------------------------------------------------------------------
def _compressed(ds, plugin, arr=None):
    ds = copy.deepcopy(ds)
    if arr is None:
        ds.compress(RLELossless, encoding_plugin=plugin)
    else:
        ds.compress(RLELossless, arr, encoding_plugin=plugin)
    return ds


@pytest.mark.parametrize("name", ["MR_small.dcm", "CT_small.dcm", "examples_rgb_color.dcm",
                                  "SC_rgb_small_odd.dcm", "MR_small_bigendian.dcm",
                                  "MR_small_implicit.dcm"])
def test_compress_matches_pydicoms_encoder_bundled(name, registered):
    ds = fac.read_dataset(pydicom_file(name))
    ours = _compressed(ds, "turbodicom")
    theirs = _compressed(ds, "pydicom")
    assert ours.PixelData == theirs.PixelData
    assert ours.file_meta.TransferSyntaxUID == RLELossless


GENERATED = [
    # bits allocated, bits stored, pixel representation, samples, frames
    (8, 8, 0, 1, 1), (8, 8, 0, 3, 3), (8, 6, 1, 1, 2), (16, 16, 0, 1, 2), (16, 12, 1, 1, 3),
    (16, 16, 0, 3, 2), (16, 9, 0, 3, 1),
]


@pytest.mark.parametrize("ba,bs,pr,spp,nframes", GENERATED)
@pytest.mark.parametrize("from_array", [False, True], ids=["PixelData", "arr"])
def test_compress_matches_pydicoms_encoder_generated(ba, bs, pr, spp, nframes, from_array,
                                                     registered):
    shape = (nframes, 11, 13) + ((spp,) if spp > 1 else ())
    kind = "ui"[pr]
    lo, hi = (-(1 << (bs - 1)), (1 << (bs - 1)) - 1) if pr else (0, (1 << bs) - 1)
    arr = np.random.default_rng(ba + bs + spp).integers(lo, hi, size=shape, endpoint=True)
    arr = arr.astype(f"{kind}{ba // 8}")
    if nframes == 1:
        arr = arr[0]
    ds = fac.read_dataset(fac.native_file(arr, bits_allocated=ba, bits_stored=bs,
                                          pixel_representation=pr, samples_per_pixel=spp))
    ours = _compressed(ds, "turbodicom", arr if from_array else None)
    theirs = _compressed(ds, "pydicom", arr if from_array else None)
    assert ours.PixelData == theirs.PixelData
    ours.pixel_array_options(decoding_plugin="pydicom")
    fac.assert_same_array(ours.pixel_array, arr)


@pytest.mark.parametrize("bs,pr", [(8, 0), (8, 1), (5, 0), (1, 0)])
def test_compress_16_bit_container_with_at_most_8_bits_stored(bs, pr, registered):
    """pydicom hands plugins 1-byte samples when Bits Stored <= 8: turbodicom's encoder must
    still produce a valid 16-bit RLE frame (pydicom's own encoder does not: compare values)."""
    lo, hi = (-(1 << (bs - 1)), (1 << (bs - 1)) - 1) if pr else (0, (1 << bs) - 1)
    arr = np.random.default_rng(bs).integers(lo, hi, size=(2, 7, 13), endpoint=True)
    arr = arr.astype(f"{'ui'[pr]}2")
    ds = fac.read_dataset(fac.native_file(arr, bits_allocated=16, bits_stored=bs,
                                          pixel_representation=pr))
    ours = _compressed(ds, "turbodicom")
    ours.pixel_array_options(decoding_plugin="pydicom")
    fac.assert_same_array(ours.pixel_array, arr)


def test_encoder_plugin_refuses_big_endian_output(registered):
    from pydicom.pixels.encoders.base import EncodeRunner

    ds = fac.read_dataset(pydicom_file("MR_small.dcm"))
    runner = EncodeRunner(RLELossless)
    runner.set_source(ds)
    runner.set_option("byteorder", ">")
    with pytest.raises(ValueError, match="byteorder"):
        pydicom_plugin._encode_frame(bytes(ds.PixelData), runner)
