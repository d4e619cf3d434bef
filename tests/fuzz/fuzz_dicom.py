"""The large DICOM fuzz run, outside the default test suite.

Usage (from the repository root)::

    python -m tests.fuzz.fuzz_dicom --inputs 20000 --processes 2 --seed 0

Generates ``--inputs`` random mutants of the valid seed files (header value
changes, length field corruption, bit flips, byte overwrites, insertions,
deletions, truncation), reads each with ``DicomLoader`` + ``Resizer``,
``scan`` and ``read_metadata`` in reader processes with a per-input deadline
(see :mod:`tests.fuzz.dicom_fuzzing`), and prints how many inputs were tried
and every escape: an exception other than the documented ones, an invalid
image, a modified input file, a crash or a hang. Escaping inputs are saved
under ``--save`` for regression tests. Exit status 1 when anything escaped.
"""

import argparse
import collections
import hashlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tests.fuzz.dicom_fuzzing import ReaderProcess, random_mutant, seed_bytes


def run(n_inputs, *, n_processes=2, seed=0, save=None, log=print):
    """Fuzz ``n_inputs`` mutants; return ``(n_tried, escapes, outcomes, seconds)``.

    ``outcomes`` counts how the loader ended: ``"read"`` (a valid image), the
    kind of :class:`~mammoclf.exceptions.ImageFileError`, ``"hang"``,
    ``"crash"`` or ``"escape"``.
    """
    seed_data = seed_bytes()
    started = time.perf_counter()
    shares = [
        n_inputs // n_processes + (i < n_inputs % n_processes)
        for i in range(n_processes)
    ]

    def worker(index):
        # One generator stream per reader: the run is reproducible from --seed.
        rng = np.random.default_rng([seed, index])
        escapes, tried = [], 0
        with ReaderProcess() as reader:
            readers.append(reader)
            for _ in range(shares[index]):
                name, data, settings = random_mutant(rng, seed_data)
                found = reader.read(data, settings)
                tried += 1
                for escape in found:
                    escape.settings["seed"] = name
                escapes.extend(found)
                if tried % 1000 == 0:
                    log(
                        f"reader {index}: {tried} inputs, {len(escapes)} escapes, "
                        f"{time.perf_counter() - started:.0f} s"
                    )
        return tried, escapes

    readers = []
    with ThreadPoolExecutor(n_processes) as pool:
        results = list(pool.map(worker, range(n_processes)))
    n_tried = sum(tried for tried, _ in results)
    escapes = [escape for _, found in results for escape in found]
    if save and escapes:
        os.makedirs(save, exist_ok=True)
        for escape in escapes:
            digest = hashlib.sha256(escape.data).hexdigest()[:16]
            with open(os.path.join(save, f"{digest}.dcm"), "wb") as handle:
                handle.write(escape.data)
            with open(os.path.join(save, f"{digest}.txt"), "w") as handle:
                handle.write(
                    f"{escape.entry_point} {escape.settings}\n{escape.problem}\n"
                )
    outcomes = sum((reader.outcomes for reader in readers), collections.Counter())
    return n_tried, escapes, outcomes, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--save", default=None, help="folder for escaping inputs (default: not saved)"
    )
    args = parser.parse_args(argv)
    n_tried, escapes, outcomes, seconds = run(
        args.inputs, n_processes=args.processes, seed=args.seed, save=args.save
    )
    print(f"{n_tried} inputs tried in {seconds:.0f} s, {len(escapes)} escaped")
    print("outcomes of DicomLoader + Resizer:")
    for outcome, count in outcomes.most_common():
        print(f"  {count:6d}  {outcome}")
    kinds = {}
    for escape in escapes:
        last_line = escape.problem.strip().splitlines()[-1]
        kinds.setdefault((escape.entry_point, last_line), []).append(escape)
    for (entry_point, line), found in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(found):5d} x {entry_point}: {line} (e.g. {found[0].settings})")
    return 1 if escapes else 0


if __name__ == "__main__":
    sys.exit(main())
