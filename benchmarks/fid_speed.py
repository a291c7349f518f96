"""FID on a CPU: the Inception pass's pace, and what `maskaae fid` of 10,000 samples costs.

    python benchmarks/fid_speed.py --run runs/c10 --out benchmarks/results/fid-speed.json

1. Images per second of the FID Inception network on CIFAR-sized (32x32) uint8 images, as `maskaae
   fid` feeds it (torch-fidelity's resize to 299, batch norms folded, channels-last), for each --batch
   (images per pass on the CPU) and --threads;
   and with bf16 autocast, beside its features' relative difference from fp32 (adopted only within
   1e-3); then the network compiled (`maskaae fid --compile`, inductor with frozen weights): its
   compile time, pace at the tool's chunk and features' difference from the eager pass (skip:
   --no-compile).
2. With --run: `maskaae fid RUN --json -n 10000` twice, against a fresh statistics cache (the test
   split's features computed) and then with it cached; the wall time of each. With --cached-only, once,
   against --cache-dir, which already holds the test split's statistics.

With more than one thread, `maskaae fid` runs one single-threaded stream of batches per thread.
--fid-args passes more options to the timed `maskaae fid` runs (`--fid-args=--no-compile`).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from maskaae_cli.metrics.features import inception_features


def pace(space, images: torch.Tensor, batch: int) -> float:
    """Images/s of the Inception pass fed as `maskaae fid` feeds it: all at once, ``batch`` a pass (with
    more than one thread, one stream of passes per thread)."""
    space.cpu.chunk = batch
    space(images[:4])  # warm-up
    start = time.perf_counter()
    space(images)
    return len(images) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=200, help="images per timing")
    p.add_argument("--batch", default="4,16,64,200")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--run", type=Path, default=None, help="a CIFAR-10 run folder to time `maskaae fid` on")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/fid-speed.json"))
    p.add_argument("--note", default="", help="what else shared the machine")
    p.add_argument("--cache-dir", type=Path, default=None, help="statistics cache (default: a fresh one)")
    p.add_argument("--cached-only", action="store_true", help="time only the cached run (needs --cache-dir)")
    p.add_argument("--no-compile", action="store_true", help="skip the compiled network's pace")
    p.add_argument("--fid-args", default="",
                   help="more `maskaae fid` options for the timed runs, as --fid-args=--no-compile")
    a = p.parse_args()
    if a.cached_only and a.cache_dir is None:
        p.error("--cached-only needs --cache-dir, a cache that holds the test split's statistics")
    images = torch.randint(0, 256, (a.images, 3, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    space = inception_features("cpu")
    rows = []
    thread_counts = [int(t) for t in a.threads.split(",")]
    for threads in thread_counts:
        torch.set_num_threads(threads)
        for batch in (int(b) for b in a.batch.split(",")):
            speed = round(pace(space, images, batch), 2)
            rows.append({"threads": threads, "batch": batch, "images_per_second": speed})
            print(rows[-1], flush=True)
    space.cpu.chunk = type(space).cpu_chunk  # the tool's own setting
    with torch.no_grad():  # under autocast the pass runs in one stream (autocast holds per thread)
        ref = space(images[:32]).double()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = space(images[:32]).double()
            bf16 = {"images_per_second": round(pace(space, images, space.cpu.chunk), 2)}
    bf16["relative_difference"] = float((low - ref).norm() / ref.norm())
    bf16["adopted"] = bf16["relative_difference"] <= 1e-3
    print("bf16", bf16, flush=True)
    compiled = {}
    if not a.no_compile:  # after bf16: the compiled network is traced without autocast
        torch.set_num_threads(max(thread_counts))
        eager = space(images[:32]).double()
        start = time.perf_counter()
        compiled["error"] = space.compile_cpu(32, 32)
        compiled["ok"] = compiled["error"] is None
        compiled["compile_seconds"] = round(time.perf_counter() - start, 1)
        if compiled["ok"]:
            again = space(images[:32]).double()
            compiled["relative_difference"] = float((again - eager).norm() / eager.norm())
            for threads in thread_counts:
                torch.set_num_threads(threads)
                speed = pace(space, images, space.cpu.chunk)
                compiled[f"images_per_second_{threads}_threads"] = round(speed, 2)
        print("compiled", compiled, flush=True)
    timings = {}
    if a.run is not None:
        with tempfile.TemporaryDirectory() as fresh:
            cache = str(a.cache_dir or fresh)
            labels = ("cached",) if a.cached_only else ("first (test statistics computed)", "cached")
            for label in labels:
                start = time.perf_counter()
                cmd = [sys.executable, "-m", "maskaae_cli", "fid", str(a.run), "--json", "-n", "10000",
                       "--cache-dir", cache, "--no-progress", *a.fid_args.split()]
                result = subprocess.run(cmd, capture_output=True, text=True)
                if result.returncode != 0:
                    sys.exit(result.stderr[-2000:])
                seconds = round(time.perf_counter() - start, 1)
                timings[label] = {"seconds": seconds, **json.loads(result.stdout)}
                print(label, timings[label]["seconds"], "s", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"benchmark": __doc__.split("\n\n")[0], "command": " ".join(sys.argv),
                                 "machine": {"platform": platform.platform(), "torch": torch.__version__,
                                             "note": a.note},
                                 "inception_pass": rows, "bf16": bf16, "compiled": compiled,
                                 "maskaae_fid_10000": timings},
                                indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
