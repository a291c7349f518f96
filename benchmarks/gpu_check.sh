#!/usr/bin/env bash
# GPU checks in one go, for a machine with one CUDA GPU. On one H100 (2026-11-26) the throughput
# part took ~75 s and the two 12,000-iteration runs ~29 and ~23 it/s beside each other and the tests,
# so the whole script needs ~9-10 minutes; set MAX_STEPS lower to fit a shorter slot.
#   1. benchmarks/throughput.py --device cuda (maskaae vs the plain loop, all three nets);
#   2. the synthetic default trained on the GPU in 32-bit and in bf16-mixed, side by side
#      (active dimensions and Frechet distance against the CPU runs' figures in the README);
#   3. one-GPU DDP (--strategy ddp --gpus 1), a short run;
#   4. the same seed twice on the GPU (identical metrics.csv or not);
#   5. maskaae sample and maskaae fid on the 32-bit run's checkpoint, on the GPU;
#   6. the test suite with the GPU visible (its CPU tests; 'auto' devices then pick the GPU).
# Everything lands in $RESULTS (default runs/gpu-check); an existing folder is kept.
#
#     bash benchmarks/gpu_check.sh                 # RESULTS=... MAX_STEPS=... to change
set -u
RESULTS=${RESULTS:-runs/gpu-check}
MAX_STEPS=${MAX_STEPS:-12000}
SHORT=${SHORT:-400}
GPU=${GPU:---gpus 1}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
if [ -e "$RESULTS" ]; then echo "gpu_check: $RESULTS exists; remove it or set RESULTS=..." >&2; exit 2; fi
mkdir -p "$RESULTS"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTHONUNBUFFERED=1
train() { $PY -m maskaae_cli train --no-progress "$@"; }
log() { echo "[$(date +%T)] $*"; }

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  $PY -c "import torch, lightning, torch_fidelity; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'gpu', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, 'lightning', lightning.__version__,
'torch-fidelity', torch_fidelity.__version__)"
} >"$RESULTS/env.txt" 2>&1
cat "$RESULTS/env.txt"

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
