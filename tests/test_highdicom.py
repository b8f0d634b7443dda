"""highdicom reads frames through pydicom 3's decoders: after register() it gets turbodicom's.

``highdicom.io.ImageFileReader.read_frame`` (and ``highdicom.frame.decode_frame`` under it)
calls ``pydicom.pixels.get_decoder(uid).as_array(...)`` for every frame, so registering
turbodicom with pydicom is all highdicom needs.  Each frame is compared with the same call
made while pydicom can use only one of its own plugins, the oracle for the syntax.
"""

from __future__ import annotations

import numpy as np
import pytest

import turbodicom

from conftest import CORPUS, pydicom_file, requires_corpus

highdicom = pytest.importorskip("highdicom")
from highdicom.io import ImageFileReader  # noqa: E402
from pydicom.pixels.decoders.base import get_decoder  # noqa: E402

#: pydicom's own plugin used as the oracle, by transfer syntax
ORACLE = {
    "1.2.840.10008.1.2.5": "pydicom",
    "1.2.840.10008.1.2.4.50": "pillow",  # libjpeg-turbo, the same IDCT as turbodicom's
    "1.2.840.10008.1.2.4.57": "pylibjpeg",
    "1.2.840.10008.1.2.4.70": "pylibjpeg",
    "1.2.840.10008.1.2.4.80": "pyjpegls",
    "1.2.840.10008.1.2.4.81": "pyjpegls",
    "1.2.840.10008.1.2.4.90": "pylibjpeg",
    "1.2.840.10008.1.2.4.91": "pylibjpeg",
    "1.2.840.10008.1.2.4.201": "pylibjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg",
}

BUNDLED = ["MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm", "SC_rgb_rle_16bit_2frame.dcm",
           "SC_rgb_jpeg_gdcm.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_16.dcm",
           "SC_rgb_jls_lossy_sample.dcm", "MR_small_jp2klossless.dcm", "JPEG2000.dcm",
           "GDCMJ2K_TextGBR.dcm", "SC_rgb_small_odd_jpeg.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm",
           "SC_rgb_jpeg_lossy_gdcm.dcm", "SC_rgb_jpeg_app14_dcmd.dcm",
           "SC_jpeg_no_color_transform.dcm"]
CORPUS_FILES = ["highdicom/data/test_files/sm_image_jpegls.dcm",
                "highdicom/data/test_files/sm_image_jpegls_nobot.dcm",
                "pydicom-data/data_store/data/HTJ2KLossless_08_RGB.dcm",
                "pydicom-data/data_store/data/HTJ2K_08_RGB.dcm"]


def _read_frames(path: str) -> tuple[str, list[np.ndarray]]:
    with ImageFileReader(path) as reader:
        frames = [reader.read_frame(i, correct_color=False)
                  for i in range(min(reader.number_of_frames, 4))]
        return str(reader.transfer_syntax_uid), frames


def _check(path: str, monkeypatch) -> None:
    with ImageFileReader(path) as reader:
        uid = str(reader.transfer_syntax_uid)
    decoder = get_decoder(uid)
    oracle = ORACLE[uid]
    assert oracle in decoder._available, f"oracle plugin {oracle!r} is not installed"

    # pydicom's own plugin alone
    turbodicom.unregister()
    with monkeypatch.context() as m:
        m.setattr(decoder, "_available", {oracle: decoder._available[oracle]})
        _, expect = _read_frames(path)

    # turbodicom registered (first), with a counter on the function pydicom calls
    turbodicom.register()
    assert next(iter(decoder._available)) == "turbodicom"
    calls = []
    plugin = decoder._available["turbodicom"]

    def counting(src, runner):
        calls.append(1)
        return plugin(src, runner)

    monkeypatch.setitem(decoder._available, "turbodicom", counting)
    _, got = _read_frames(path)
    assert len(calls) == len(got), "highdicom's frames were decoded by turbodicom"
    for ours, theirs in zip(got, expect, strict=True):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("name", BUNDLED)
def test_read_frame_gets_turbodicom_output(name, monkeypatch):
    _check(pydicom_file(name), monkeypatch)


@requires_corpus
@pytest.mark.parametrize("relpath", CORPUS_FILES)
def test_read_frame_gets_turbodicom_output_corpus(relpath, monkeypatch):
    _check(str(CORPUS / relpath), monkeypatch)


def test_without_register_highdicom_keeps_pydicoms_plugins(monkeypatch):
    """Importing turbodicom changes nothing for highdicom (no side effects at import)."""
    turbodicom.unregister()
    path = pydicom_file("MR_small_RLE.dcm")
    decoder = get_decoder("1.2.840.10008.1.2.5")
    assert "turbodicom" not in decoder._available
    _, frames = _read_frames(path)
    assert frames[0].shape == (64, 64)
