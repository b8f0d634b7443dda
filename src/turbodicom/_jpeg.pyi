"""Stubs for the _jpeg extension (csrc/td_jpeg, csrc/td_jpegdct)."""
from typing import Any as _Any

from numpy.typing import NDArray
from typing_extensions import Buffer as _Buffer

Buffer = _Buffer | NDArray[_Any]

ADOBE_RGB: int
YBR_TO_RGB: int
RGB: int

def has_libjpeg() -> bool: ...
def backend_version() -> str: ...
def read_header(src: Buffer) -> dict[str, _Any]: ...
def decode_into(src: Buffer, out: Buffer, *, rows: int, columns: int, components: int,
                flags: int = ...) -> None: ...
