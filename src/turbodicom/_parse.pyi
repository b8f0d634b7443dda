"""Stubs for the _parse extension (csrc/td_parse, td_frames, td_pixels)."""
from typing import Any
from typing import Any as _Any

from numpy.typing import NDArray
from typing_extensions import Buffer as _Buffer

Buffer = _Buffer | NDArray[_Any]

ENC_IMPLICIT_LE: int
ENC_EXPLICIT_LE: int
ENC_EXPLICIT_BE: int
ENC_DEFLATED: int

def parse_image(buf: Buffer) -> dict[str, Any]: ...
def parse_dataset(buf: Buffer, offset: int, encoding: int,
                  meta: dict[str, Any]) -> dict[str, Any]: ...
def encoding_for_syntax(uid: str) -> int: ...
def frame_table(buf: Buffer, pixel_offset: int, big_endian: bool, number_of_frames: int,
                eot: Buffer | None = ...,
                eotl: Buffer | None = ...) -> list[list[tuple[int, int]]]: ...
def locate_frame(buf: Buffer, pixel_offset: int, big_endian: bool, number_of_frames: int,
                 index: int, eot: Buffer | None = ...,
                 eotl: Buffer | None = ...) -> list[tuple[int, int]] | None: ...
def fix_unused_bits(buf: Buffer, bytes_per_sample: int, bits_stored: int,
                    is_signed: bool) -> None: ...
def ybr_full_to_rgb(buf: Buffer) -> None: ...

class PostProcess:
    def __init__(self, bytes_per_sample: int, bits_stored: int, is_signed: bool,
                 ybr_to_rgb: bool) -> None: ...
    def __call__(self, buf: Buffer) -> None: ...
