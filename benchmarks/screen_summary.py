"""What a mask screen's metrics.csv says: the critic's gap per 500 iterations, the variance penalty per
1,000 and the mask's counts every 250 (the figures of benchmarks/results/cifar-screens-round3.json).

    python benchmarks/screen_summary.py NAME=RUN/metrics.csv [NAME=...] --out summary.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np


def summary(path: Path) -> dict[str, Any]:
    rows = list(csv.DictReader(path.open()))
    gaps = [(int(float(r["step"])), float(r["wasserstein"])) for r in rows if r.get("wasserstein")]
    var = [(int(float(r["step"])), float(r["loss/var"])) for r in rows if r.get("loss/var")]

    def window(values: list[tuple[int, float]], lo: int, width: int) -> list[float]:
        return [v for s, v in values if lo <= s < lo + width]

    out: dict[str, Any] = {
        "critic_gap_mean_per_500": {f"{a}-{a + 500}": round(float(np.mean(window(gaps, a, 500))), 2)
                                    for a in range(0, 12000, 500) if window(gaps, a, 500)},
        "variance_penalty_mean_per_1000": {f"{a}-{a + 1000}": float(f"{np.mean(window(var, a, 1000)):.3g}")
                                           for a in range(0, 12000, 1000) if window(var, a, 1000)}}
    keys = [k for k in rows[0] if k.startswith("alpha/")]
    counts = {}
    for r in rows:
        if r.get(keys[0]) and r.get("step") and int(float(r["step"])) % 250 < 50:
            a = np.array([float(r[k]) for k in keys])
            counts[str(int(float(r["step"])) // 250 * 250)] = {"active": int((a >= 0.1).sum()),
                                                                "above_0.5": int((a > 0.5).sum())}
    out["mask_every_250"] = counts
    out["last_step"] = max(s for s, _ in gaps) if gaps else None
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="NAME=PATH/metrics.csv")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    res = {spec.split("=", 1)[0]: summary(Path(spec.split("=", 1)[1])) for spec in a.runs}
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    for name, s in res.items():
        print(name, s["last_step"], list(s["critic_gap_mean_per_500"].values())[:6])


if __name__ == "__main__":
    main()
