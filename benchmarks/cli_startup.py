"""How long the CLI takes to answer before it does any work: --help, train --help, an option error.

Each command runs as its own process (``python -m maskaae_cli ...``) from a scratch folder, with the
package imported from --source (this checkout by default, or another one, such as an older commit
in a git worktree, to compare); the CPU time of the child (user + system, from getrusage) is the
figure, as it depends little on what else runs on the machine. Median of --repeat runs.

    python benchmarks/cli_startup.py --out benchmarks/results/cli-startup.json
    git worktree add /tmp/old OLD_COMMIT
    python benchmarks/cli_startup.py --source /tmp/old --label before --out ...
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {"maskaae --help": ["--help"], "maskaae train --help": ["train", "--help"],
            "maskaae train --m x (an option error)": ["train", "--m", "x"]}


def child_cpu_seconds(args: list[str], source: Path, cwd: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one ``python -m maskaae_cli ARGS``."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "maskaae_cli", *args], cwd=cwd, env=env, capture_output=True,
                   timeout=300)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def loads_torch(source: Path, cwd: Path) -> bool:
    probe = ("import sys; from maskaae_cli.cli import app; getattr(app, '_register', lambda: None)(); "
             "print('torch' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(source)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=300)
    return out.stdout.strip() == "True"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent,
                   help="the checkout whose maskaae_cli to time")
    p.add_argument("--label", default="this checkout")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out", type=Path, help="results file (JSON); an existing one gains this label's entry")
    args = p.parse_args()
    if not (args.source / "maskaae_cli" / "__init__.py").is_file():
        sys.exit(f"error: --source {args.source} holds no maskaae_cli package: give a maskaae checkout")
    commit = subprocess.run(["git", "-C", str(args.source), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        child_cpu_seconds(["--help"], args.source, cwd)  # warm the file cache
        rows = {}
        for name, words in COMMANDS.items():
            samples = [child_cpu_seconds(words, args.source, cwd) for _ in range(args.repeat)]
            rows[name] = {"cpu_seconds_median": round(statistics.median(s[0] for s in samples), 3),
                          "wall_seconds_median": round(statistics.median(s[1] for s in samples), 3)}
            print(f"{args.label} ({commit}): {name}: {rows[name]['cpu_seconds_median']:.2f} s CPU "
                  f"({rows[name]['wall_seconds_median']:.2f} s wall)", flush=True)
        torch_loaded = loads_torch(args.source, cwd)
    entry = {"source_commit": commit, "commands": rows, "registering_commands_imports_torch": torch_loaded,
             "repeat": args.repeat, "machine": platform.platform(), "python": platform.python_version(),
             "note": "2-core machine; other jobs (two training runs) ran beside it: CPU time is the figure"}
    if args.out:
        record = json.loads(args.out.read_text()) if args.out.is_file() else {}
        record[args.label] = entry
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
