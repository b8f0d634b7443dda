"""Stubs for the _jpeg extension (csrc/td_jpegdct)."""
from typing import Any as _Any

from numpy.typing import NDArray
from typing_extensions import Buffer as _Buffer

Buffer = _Buffer | NDArray[_Any]

def dct_read_header(src: Buffer) -> dict[str, _Any]: ...
def dct_decode_into(
    src: Buffer, out: Buffer, *, bytes_per_sample: int, rgb: bool = ...
) -> None: ...
