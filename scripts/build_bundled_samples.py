"""Rebuild the bundled 50-row samples from full benchmark files (a maintainer tool, not shipped).

Usage: ``python scripts/build_bundled_samples.py ../shared/data``. The selection is
deterministic: evenly spaced rows, plus (for ARC) the first rows with the real quirks
(numeric choice labels, 3 and 5 choices) so the bundled sample exercises them; for
MATH-500 the first 10 rows of each level 1-5. Rows keep their source order and fields;
GSM8K rows gain an ``id`` (``test-<row index>``) so ids match the hub's row order.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SIZE = 50
HERE = Path(__file__).resolve().parents[1] / "src" / "cola" / "data"


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def spaced(count: int, size: int) -> list[int]:
    return [i * count // size for i in range(size)]


def arc_indices(rows: list[dict]) -> list[int]:
    labels = [row["choices"]["label"] for row in rows]
    quirky: list[int] = []
    quirky += [i for i, lab in enumerate(labels) if lab[0] == "1"][:2]
    quirky += [i for i, lab in enumerate(labels) if len(lab) == 3][:1]
    quirky += [i for i, lab in enumerate(labels) if len(lab) == 5][:1]
    rest = [i for i in spaced(len(rows), SIZE) if i not in quirky][: SIZE - len(quirky)]
    return sorted(set(quirky + rest))


def math_indices(rows: list[dict]) -> list[int]:
    chosen = []
    for level in range(1, 6):
        chosen += [i for i, row in enumerate(rows) if row["level"] == level][: SIZE // 5]
    return sorted(chosen)


def write(name: str, rows: list[dict]) -> None:
    assert len(rows) == SIZE, (name, len(rows))
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (HERE / name).write_text(text, encoding="utf-8")


def main(source: Path) -> None:
    for name in ("arc_easy_test.jsonl", "arc_challenge_test.jsonl"):
        rows = read(source / name)
        write(name, [rows[i] for i in arc_indices(rows)])
    rows = read(source / "gsm8k_test.jsonl")
    write("gsm8k_test.jsonl", [{"id": f"test-{i}", **rows[i]} for i in spaced(len(rows), SIZE)])
    rows = read(source / "math500_test.jsonl")
    write("math500_test.jsonl", [rows[i] for i in math_indices(rows)])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
