"""Mutation sweep over every compressed corpus file this build decodes.

Each file is truncated at several points and bit-flipped with several seeds; all mutations are
decoded in one child process (tests/sweep_worker.py).  The only acceptable outcomes are an
array or a turbodicom exception: a signal, a hang (timeout) or any other exception fails the
test and names the file and mutation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import turbodicom

from conftest import corpus_rows, requires_corpus

HERE = Path(__file__).parent
NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
          "1.2.840.10008.1.2.1.99"}
MAX_BYTES = 3 << 20  # larger files take seconds per decode; they are fuzzed through seeds
TRUNCATIONS = 10
FLIP_SEEDS = 10


def _jobs(rows: list[dict]) -> list[tuple[str, str, int]]:
    supported = set(turbodicom.features()["decode"]) - NATIVE
    jobs: list[tuple[str, str, int]] = []
    for r in rows:
        path = r["abspath"]
        if r["transfer_syntax_uid"] not in supported or os.path.getsize(path) > MAX_BYTES:
            continue
        size = os.path.getsize(path)
        for k in range(1, TRUNCATIONS + 1):
            jobs.append((path, "truncate", size * k // (TRUNCATIONS + 1)))
        jobs.extend((path, "flip", seed) for seed in range(FLIP_SEEDS))
    return jobs


@pytest.mark.slow
@requires_corpus
def test_corpus_mutation_sweep(tmp_path):
    jobs = _jobs(corpus_rows())
    assert jobs, "no compressed corpus files to mutate"
    job_file = tmp_path / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    outcomes: dict[int, str] = {}
    start = 0
    while start < len(jobs):  # resume after a crash, so every mutation is tried
        sub = tmp_path / f"jobs{start}.json"
        sub.write_text(json.dumps(jobs[start:]))
        try:
            proc = subprocess.run([sys.executable, str(HERE / "sweep_worker.py"), str(sub)],
                                  capture_output=True, text=True, timeout=900,
                                  cwd=str(HERE))
            out, rc = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            rc = "timeout"
        last_started = None
        for line in out.splitlines():
            parts = line.split(" ", 2)
            if parts[0] == "start":
                last_started = start + int(parts[1])
            elif parts[0] == "done":
                outcomes[start + int(parts[1])] = parts[2]
        if rc == 0:
            break
        assert last_started is not None, f"worker failed before any job: {rc}"
        outcomes[last_started] = f"crashed:{rc}"
        start = last_started + 1
    bad = {i: o for i, o in outcomes.items() if not (o == "ok" or o.startswith("error:"))}
    described = [f"{jobs[i][0]} {jobs[i][1]} {jobs[i][2]}: {o}" for i, o in sorted(bad.items())]
    assert not described, "\n".join(described[:20])
    assert len(outcomes) == len(jobs)
