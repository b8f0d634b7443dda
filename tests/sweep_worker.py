"""Child process for test_sweep.py: decode mutated files, one line of output per attempt.

Reads a list of (path, kind, arg) jobs from a JSON file; for each prints "start i" before and
"done i outcome" after, so a crash (signal) or hang in the parent's view names the exact input.
Outcomes: "ok" (an array of the declared shape came back) or "error:<Exception class>".
"""

import json
import sys

import numpy as np

import turbodicom


def mutate(data: bytes, kind: str, arg: int) -> bytes:
    if kind == "truncate":
        return data[:arg]
    if kind == "flip":
        rng = np.random.default_rng(arg)
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), 8):
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        return bytes(buf)
    raise ValueError(kind)


def main() -> None:
    jobs = json.load(open(sys.argv[1]))
    cache: dict[str, bytes] = {}
    for i, (path, kind, arg) in enumerate(jobs):
        data = cache.setdefault(path, open(path, "rb").read())
        print(f"start {i}", flush=True)
        try:
            arr = turbodicom.decode(mutate(data, kind, arg), threads=1)
            outcome = "ok" if isinstance(arr, np.ndarray) else f"bad-type:{type(arr).__name__}"
        except turbodicom.TurboDicomError as exc:
            outcome = f"error:{type(exc).__name__}"
        except (IndexError, MemoryError) as exc:
            outcome = f"error:{type(exc).__name__}"
        except Exception as exc:  # noqa: BLE001 - reported to the parent as a failure
            outcome = f"foreign:{type(exc).__name__}:{exc}"
        print(f"done {i} {outcome}", flush=True)


if __name__ == "__main__":
    main()
