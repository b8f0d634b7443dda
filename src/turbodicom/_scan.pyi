"""Stubs for the _scan extension (csrc/td_scan)."""
from typing import Any, Callable

from numpy.typing import NDArray
from typing_extensions import Buffer as _Buffer

Buffer = _Buffer | NDArray[Any]

WORK_SIZE: int

class Scanner:
    transfer_syntax_uid: str
    def __init__(self, tags: list[int], vrs: list[str | None],
                 decode_text: Callable[[bytes, list[str]], str]) -> None: ...
    def scan_file(self, path: str | bytes) -> tuple[str | None, list[Any]]: ...
    def scan_buffer(self, buf: Buffer) -> tuple[str | None, list[Any]]: ...
    def scan_many(self, paths: list[bytes], errors: list[str | None],
                  columns: list[list[Any]]) -> None: ...
