#!/usr/bin/env bash
# GPU checks in one go, for a machine with one CUDA GPU. Two parts; run from the repository root.
#
#   bash benchmarks/gpu_check.sh graphs   # the default: the CUDA-graphs check (issue 25), under 8 minutes
#   bash benchmarks/gpu_check.sh full     # the first H100 check (2026-11-26), ~9-10 minutes
#   DRY=1 bash benchmarks/gpu_check.sh graphs   # the same steps on the CPU with tiny settings (~1 minute)
#
# graphs: (1) benchmarks/cuda_graphs.py: eager, critic-steps graph and whole-iteration graph on the
# CIFAR-10 conv nets (m = 128), the MNIST MLPs and the synthetic default (it/s over 300 CUDA-event-
# timed iterations, CPU and GPU ms, capture time and memory, the update gap from the eager step
# after 1 and 200 iterations, same seed twice, 50 iterations under sync-debug "error");
# (2) `maskaae train --recipe cifar10 --m 128 --max-steps 3000` with --cuda-graphs and with
# --no-cuda-graphs, on random images in CIFAR-10's layout (the machine is offline), it/s from
# summary.json. Time budget (each step is cut at its limit; what it wrote stays): benchmark 210 s,
# graphed run 75 s, eager run 170 s, the rest ~20 s: 7.9 minutes at most, ~6.5 expected. The
# results land in $RESULTS and in benchmarks/results/gpu-<device>/throughput-cuda-graphs.json.
#
# full: (1) benchmarks/throughput.py --device cuda (maskaae vs the plain loop, all three nets);
#   (2) the synthetic default trained on the GPU in 32-bit and in bf16-mixed, side by side;
#   (3) one-GPU DDP (--strategy ddp --gpus 1), a short run; (4) the same seed twice on the GPU;
#   (5) maskaae sample and maskaae fid on the 32-bit run's checkpoint; (6) the test suite with the
#   GPU visible. On one H100 the throughput part took ~75 s and the two 12,000-iteration runs ~29 and
#   ~23 it/s beside each other and the tests; set MAX_STEPS lower to fit a shorter slot.
#
# Everything lands in $RESULTS (default runs/gpu-check); an existing folder is kept.
set -u
PART=${1:-graphs}
RESULTS=${RESULTS:-runs/gpu-check}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
DRY=${DRY:-}
if [ "$PART" != graphs ] && [ "$PART" != full ]; then echo "gpu_check: use graphs or full, not $PART" >&2; exit 2; fi
if [ -e "$RESULTS" ]; then echo "gpu_check: $RESULTS exists; remove it or set RESULTS=..." >&2; exit 2; fi
mkdir -p "$RESULTS"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
train() { $PY -m maskaae_cli train --no-progress "$@"; }
log() { echo "[$(date +%T)] $*"; }

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  $PY -c "import importlib.metadata as m, torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'gpu', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, 'lightning', m.version('lightning'),
'torch-fidelity', m.version('torch-fidelity'))"
} >"$RESULTS/env.txt" 2>&1
cat "$RESULTS/env.txt"

if [ "$PART" = graphs ]; then
  if [ -n "$DRY" ]; then  # the CPU: tiny nets, a few iterations; checks the script, not the speed
    DEVICE=cpu; BENCH=(--device cpu --tiny --iterations 6 --diff-iterations 4 --same-seed-iterations 3)
    HW=(--accelerator cpu --threads 1); E2E_STEPS=${E2E_STEPS:-3}; DATA=(--n-train 1000 --n-test 200)
  else
    BENCH=(--device cuda); HW=(--gpus 1); E2E_STEPS=${E2E_STEPS:-3000}; DATA=()
  fi
  T_BENCH=${T_BENCH:-210}; T_GRAPHS=${T_GRAPHS:-75}; T_EAGER=${T_EAGER:-170}
  OUT="$RESULTS/throughput-cuda-graphs.json"
  log "benchmarks/cuda_graphs.py (limit ${T_BENCH} s)"
  timeout -k 10 "$T_BENCH" $PY benchmarks/cuda_graphs.py "${BENCH[@]}" --budget-s $((T_BENCH - 40)) \
    --out "$OUT" 2>&1 | tee "$RESULTS/cuda-graphs.log" | grep -v "^ "
  echo "cuda_graphs.py rc=${PIPESTATUS[0]}" | tee -a "$RESULTS/rc.txt"
  $PY benchmarks/fake_cifar10.py "$RESULTS/data" "${DATA[@]}" >/dev/null
  E2E=(--recipe cifar10 --m 128 --max-steps "$E2E_STEPS" --dataset cifar10 --data-dir "$RESULTS/data"
       --no-download --eval-features none "${HW[@]}")
  log "maskaae train --cuda-graphs, $E2E_STEPS iterations (limit ${T_GRAPHS} s)"
  timeout -k 10 "$T_GRAPHS" $PY -m maskaae_cli train --no-progress "${E2E[@]}" --cuda-graphs \
    --out "$RESULTS/e2e-graphs" >"$RESULTS/e2e-graphs.log" 2>&1
  echo "e2e-graphs rc=$?" | tee -a "$RESULTS/rc.txt"; grep -E "CUDA graphs|eagerly" "$RESULTS/e2e-graphs.log"
  log "maskaae train --no-cuda-graphs, $E2E_STEPS iterations (limit ${T_EAGER} s)"
  timeout -k 10 "$T_EAGER" $PY -m maskaae_cli train --no-progress "${E2E[@]}" --no-cuda-graphs \
    --out "$RESULTS/e2e-eager" >"$RESULTS/e2e-eager.log" 2>&1
  echo "e2e-eager rc=$?" | tee -a "$RESULTS/rc.txt"
  if [ -f "$OUT" ]; then
    $PY benchmarks/cuda_graphs.py --out "$OUT" --add-e2e "graphs=$RESULTS/e2e-graphs/summary.json" \
      --add-e2e "eager=$RESULTS/e2e-eager/summary.json"
    SLUG=$($PY -c "import re, sys, torch
name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu-dry-run'
m = re.search(r'\b([A-Za-z]{1,3}\d{2,4}[A-Za-z]?)\b', name.replace('NVIDIA', ''))
print((m.group(1) if m else re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')).lower())")
    KEEP="benchmarks/results/gpu-$SLUG"
    [ -n "$DRY" ] && KEEP="$RESULTS/kept/gpu-$SLUG"  # a dry run leaves benchmarks/results alone
    mkdir -p "$KEEP"
    TARGET="$KEEP/throughput-cuda-graphs.json"
    [ -e "$TARGET" ] && TARGET="$KEEP/throughput-cuda-graphs.$(date +%Y%m%d-%H%M%S).json"
    cp "$OUT" "$TARGET" && echo "kept $TARGET"
    cp "$RESULTS/env.txt" "$KEEP/env-cuda-graphs.txt"
  fi
  log "done"
  exit 0
fi

MAX_STEPS=${MAX_STEPS:-12000}
SHORT=${SHORT:-400}
GPU=${GPU:---gpus 1}
log "throughput"
$PY benchmarks/throughput.py --device "$DEVICE" --repeats ${REPEATS:-3} --seconds ${SECONDS_EACH:-2} \
  --out "$RESULTS/throughput-$DEVICE.json" >"$RESULTS/throughput.log" 2>&1
echo "throughput rc=$?" | tee -a "$RESULTS/rc.txt"; tail -8 "$RESULTS/throughput.log"

log "training runs and tests, side by side"
${PYTEST:-$PY -m pytest -q -x -p no:cacheprovider} >"$RESULTS/pytest.log" 2>&1 &
P_TEST=$!
train $GPU --max-steps "$MAX_STEPS" --out "$RESULTS/fp32" >"$RESULTS/fp32.log" 2>&1 &
P32=$!
train $GPU --max-steps "$MAX_STEPS" --precision bf16-mixed --out "$RESULTS/bf16" >"$RESULTS/bf16.log" 2>&1 &
P16=$!
train $GPU --strategy ddp --max-steps 1500 --out "$RESULTS/ddp1" >"$RESULTS/ddp1.log" 2>&1
echo "ddp1 rc=$?" | tee -a "$RESULTS/rc.txt"
for k in a b; do
  train $GPU --max-steps "$SHORT" --seed 3 --out "$RESULTS/same-$k" >"$RESULTS/same-$k.log" 2>&1
  echo "same-$k rc=$?" | tee -a "$RESULTS/rc.txt"
done
if cmp -s "$RESULTS/same-a/metrics.csv" "$RESULTS/same-b/metrics.csv"; then same=identical; else same=different; fi
echo "same seed twice on the GPU: metrics.csv $same" | tee -a "$RESULTS/rc.txt"
wait $P32; echo "fp32 rc=$?" | tee -a "$RESULTS/rc.txt"
$PY -m maskaae_cli sample "$RESULTS/fp32" -n 100 --device "$DEVICE" --out "$RESULTS/fp32-samples.pt" >"$RESULTS/sample.log" 2>&1
echo "sample rc=$?" | tee -a "$RESULTS/rc.txt"
$PY -m maskaae_cli fid "$RESULTS/fp32" --device "$DEVICE" --json --no-progress >"$RESULTS/fid.json" 2>"$RESULTS/fid.log"
echo "fid rc=$?" | tee -a "$RESULTS/rc.txt"
wait $P16; echo "bf16 rc=$?" | tee -a "$RESULTS/rc.txt"
wait $P_TEST; echo "pytest rc=$?" | tee -a "$RESULTS/rc.txt"; tail -3 "$RESULTS/pytest.log"
for r in fp32 bf16 ddp1 same-a same-b; do
  $PY - "$RESULTS/$r/summary.json" <<'EOF' || true
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except OSError:
    print(sys.argv[1], "missing"); sys.exit()
print(sys.argv[1], {k: s.get(k) for k in ("active_dims", "steps", "frechet_distance", "frechet_distance_raw",
      "wall_seconds", "steps_per_second", "precision", "devices")})
EOF
done | tee "$RESULTS/summaries.txt"
cat "$RESULTS/fid.json"
log "done"
