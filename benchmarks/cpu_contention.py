"""Training pace on a shared CPU: the default thread choice against fixed counts, idle and beside
busy processes.

    python benchmarks/cpu_contention.py --steps 300 --out benchmarks/results/cpu-contention.json

Times the default run's first --steps iterations (``maskaae train --max-steps N``, its summary's
iterations per second) with no --threads (the tool's choice) and with --threads 1..cores, (a) on
an idle machine and (b) beside 1 and 2 busy processes (pure-Python spinners, one core each).
Targets: beside one busy process the default choice keeps within 1.3x of its idle pace; idle, it is
within 5% of the best fixed count. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SPIN = "while True: pass"


def timed_run(steps: int, threads: int | None, work: Path) -> dict:
    out = Path(tempfile.mkdtemp(dir=work)) / "run"
    cmd = [sys.executable, "-m", "maskaae_cli", "train", "--max-steps", str(steps), "--out", str(out),
           "--no-progress", "--eval-every", str(steps)]
    if threads:
        cmd += ["--threads", str(threads)]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    record = json.loads((out / "run.json").read_text())
    return {"steps_per_second": summary["steps_per_second"], "wall_seconds": round(wall, 2),
            "threads": record.get("threads", threads), "why": record.get("why", "--threads")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--busy", default="0,1,2", help="numbers of busy processes beside the run")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu-contention.json"))
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args()
    if a.out.exists() and not a.overwrite:
        sys.exit(f"error: {a.out} exists: pass --overwrite to replace it")
    cores = len(os.sched_getaffinity(0))
    settings = [None, *range(1, cores + 1)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for busy in (int(b) for b in a.busy.split(",")):
            spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
            try:
                time.sleep(5 if busy else 0)  # let the load average see them
                for threads in settings:
                    r = timed_run(a.steps, threads, Path(tmp))
                    rows.append({"busy": busy, "setting": "default" if threads is None else threads, **r})
                    print(f"busy {busy}, threads {rows[-1]['setting']}: {r['steps_per_second']:.1f} it/s "
                          f"(chose {r['threads']}: {r['why']})", flush=True)
            finally:
                for s in spinners:
                    s.kill()
    def pace(busy: int, setting: object) -> float:
        return next(r["steps_per_second"] for r in rows if r["busy"] == busy and r["setting"] == setting)

    idle_default = pace(0, "default")
    best_fixed = max(pace(0, t) for t in range(1, cores + 1))
    targets = [{"target": "idle, the default within 5% of the best fixed thread count",
                "measured": f"{idle_default:.1f} vs {best_fixed:.1f} it/s",
                "met": idle_default >= 0.95 * best_fixed}]
    if any(r["busy"] == 1 for r in rows):
        slow = idle_default / pace(1, "default")
        targets.append({"target": "beside one busy process the default within 1.3x of its idle pace",
                        "measured": f"{slow:.2f}x", "met": slow <= 1.3})
    for t in targets:
        print(f"[{'MET' if t['met'] else 'NOT MET'}] {t['target']}: {t['measured']}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"benchmark": __doc__.split("\n\n")[0], "command": " ".join(sys.argv),
                                 "machine": {"platform": platform.platform(), "cores": cores,
                                             "torch": torch.__version__},
                                 "runs": rows, "targets": targets}, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
