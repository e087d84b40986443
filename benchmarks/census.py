"""Time ``shapetrace data``'s census of 1,000 small samples (issue 21's target: under 10 s).

    python benchmarks/census.py            # writes benchmarks/census_results.md and prints it

The census reads each sample once through the dataset's ``__getitem__`` and
reduces it to its leaves' shapes; the time is dominated by the dataset itself,
so the script also times a plain loop over the same samples, side by side.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shapetrace.analyze.census import take_census  # noqa: E402
from tests.models.data_models import DictImages  # noqa: E402


def main() -> None:
    dataset = DictImages(1000)
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for index in range(len(dataset)):
            dataset[index]
        plain = time.perf_counter() - start
        start = time.perf_counter()
        take_census(dataset)
        rounds.append((plain, time.perf_counter() - start))
    plain, census = sorted(rounds, key=lambda r: r[1])[len(rounds) // 2]
    text = (
        "# Census benchmark\n\n1,000 samples of `{'image': (3, 8, 8), 'label': int}` "
        "(median of 5, wall clock):\n\n"
        f"| reading the samples | census (reading included) | target |\n|---:|---:|---:|\n"
        f"| {plain:.3f} s | {census:.3f} s | < 10 s |\n"
    )
    (ROOT / "benchmarks" / "census_results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
