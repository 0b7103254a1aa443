#!/usr/bin/env bash
# Real-GPU check of the GPU collector: on a machine with an NVIDIA GPU and driver, install the
# package in a virtual environment, start the exporter with the GPU collector on and no targets,
# run a small GPU workload when torch is importable (otherwise idle), scrape /metrics twice and
# check that utilization, memory, temperature, power and per-process memory are present and
# plausible. Prints ONE summary line on stdout (details on stderr only when it fails); exit 0 = pass.
#
#   bench/gpu_check.sh                 # creates a venv under a temporary directory
#   VENV=.venv bench/gpu_check.sh      # reuses a venv that already has the package installed
#
# Bounded: every step has a timeout and the whole run stays well under 5 minutes.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"
LOG="$WORK/log"
PORT="${PORT:-19072}"
WORKLOAD_SECONDS="${WORKLOAD_SECONDS:-40}"
START=$SECONDS
EXPORTER_PID=""
WORKLOAD_PID=""

summary() {
  echo "gpu_check: $1 ($((SECONDS - START))s)"
}

fail() {
  summary "FAIL $1"
  {
    echo "--- log ($LOG) ---"
    tail -n 40 "$LOG" 2>/dev/null || true
  } >&2
  exit 1
}

cleanup() {
  for pid in "$WORKLOAD_PID" "$EXPORTER_PID"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT

# --- 1. a GPU and its driver ---------------------------------------------------------
if ! command -v nvidia-smi >/dev/null 2>&1 && ! ls /dev/nvidia0 >/dev/null 2>&1; then
  summary "SKIP no NVIDIA GPU or driver on this machine"
  exit 0
fi

# --- 2. the package in a virtual environment --------------------------------------------
if [[ -n "${VENV:-}" ]]; then
  PY="$VENV/bin/python"
else
  # System site packages: torch for the workload, and the dependencies on a machine without an index.
  timeout 60 python3 -m venv --system-site-packages "$WORK/venv" >>"$LOG" 2>&1 || fail "cannot create a venv"
  PY="$WORK/venv/bin/python"
  if ! timeout 150 "$PY" -m pip install --quiet "$REPO" >>"$LOG" 2>&1; then
    echo "pip install from the index failed; trying offline" >>"$LOG"
    timeout 60 "$PY" -m pip install --quiet --no-index --no-deps --no-build-isolation "$REPO" >>"$LOG" 2>&1 ||
      fail "cannot install the package (no index and no local build tools?)"
  fi
fi
"$PY" -c "import inference_exporter.collectors.gpu, pynvml" >>"$LOG" 2>&1 ||
  fail "the package or nvidia-ml-py does not import with $PY"

# --- 3. the exporter, GPU collector on, no targets --------------------------------------
echo "targets: []" >"$WORK/config.yml"
"$PY" -m inference_exporter --config.file="$WORK/config.yml" --web.listen-address="127.0.0.1:$PORT" --journal.path="$WORK/journal" \
  --collector.gpu >>"$LOG" 2>&1 &
EXPORTER_PID=$!

# --- 4. a small GPU workload, when torch is there -----------------------------------------
WORKLOAD="idle"
if timeout 60 "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >>"$LOG" 2>&1; then
  "$PY" - "$WORKLOAD_SECONDS" >>"$LOG" 2>&1 <<'EOF' &
import sys, time
import torch
end = time.monotonic() + float(sys.argv[1])
a = torch.randn(8192, 8192, device="cuda")
b = torch.randn(8192, 8192, device="cuda")
while time.monotonic() < end:
    c = a @ b
    torch.cuda.synchronize()
EOF
  WORKLOAD_PID=$!
  WORKLOAD="torch"
fi

# --- 5. scrape twice and check --------------------------------------------------------------
"$PY" - "$PORT" "$WORKLOAD" >"$WORK/result" 2>>"$LOG" <<'EOF' || fail "$(cat "$WORK/result" 2>/dev/null)"
import sys, time, urllib.request
from prometheus_client.parser import text_string_to_metric_families

port, workload = sys.argv[1], sys.argv[2]
url = f"http://127.0.0.1:{port}/metrics"


def scrape():
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    series = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            series.setdefault(s.name, []).append((s.labels, s.value))
    return series


deadline = time.monotonic() + 60
while True:  # the exporter is up and has run the GPU collector once
    try:
        first = scrape()
        if "inference_gpu_collector_available" in first:
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        print("no GPU series at /metrics within 60 s")
        sys.exit(1)
    time.sleep(1)
time.sleep(15 if workload == "torch" else 5)  # let the workload show in utilization and process lists
second = scrape()

problems = []


def values(name):
    return [(lbl, v) for lbl, v in second.get(name, [])]


if [v for _, v in values("inference_gpu_collector_available")] != [1.0]:
    problems.append("collector not available (NVML did not initialise)")
gpus = {lbl["uuid"]: lbl for lbl, v in values("inference_gpu_state") if lbl.get("state") == "ok" and v == 1}
if not gpus:
    problems.append("no GPU in state ok")
# NVML reports no utilization for a GPU in MIG mode: its instances carry gpu_instance labels.
mig_gpus = {lbl["gpu"] for lbl, _ in values("inference_gpu_memory_used_bytes") if lbl.get("gpu_instance")}
for uuid, gpu_labels in gpus.items():
    def one(name, uuid=uuid, required=True):
        found = [v for lbl, v in values(name) if lbl.get("uuid") == uuid and not lbl.get("gpu_instance")]
        if not found:
            if required:
                problems.append(f"{name} missing for {uuid}")
            return None
        return found[0]

    util = one("inference_gpu_utilization_ratio", required=gpu_labels["gpu"] not in mig_gpus)
    used, total = one("inference_gpu_memory_used_bytes"), one("inference_gpu_memory_total_bytes")
    temp, power = one("inference_gpu_temperature_celsius"), one("inference_gpu_power_usage_watts")
    if util is not None and not 0 <= util <= 1:
        problems.append(f"utilization {util} outside 0..1")
    if used is not None and total is not None and not 0 <= used <= total:
        problems.append(f"memory used {used} > total {total}")
    if temp is not None and not 10 <= temp <= 110:
        problems.append(f"temperature {temp} C outside 10..110")
    if power is not None and not power > 0:
        problems.append(f"power {power} W not > 0")
proc_mem = sum(v for _, v in values("inference_gpu_process_memory_bytes"))
if workload == "torch" and proc_mem <= 0:
    problems.append("no per-process GPU memory while the torch workload ran")
first_energy = sum(v for _, v in first.get("inference_gpu_energy_joules_total", []))
energy = sum(v for _, v in values("inference_gpu_energy_joules_total"))
if energy and energy < first_energy:
    problems.append("energy counter went backwards")

lbl = next(iter(gpus.values()), {})
util_all = [round(v, 2) for _, v in values("inference_gpu_utilization_ratio")]
mem = [(lbl2["uuid"], v) for lbl2, v in values("inference_gpu_memory_used_bytes")]
detail = (
    f"gpus={len(gpus)} name={lbl.get('name', '?')!r} workload={workload} util={util_all} "
    f"mem_used_gib={[round(v / 2**30, 1) for _, v in mem]} "
    f"temp_c={[v for _, v in values('inference_gpu_temperature_celsius')]} "
    f"power_w={[round(v) for _, v in values('inference_gpu_power_usage_watts')]} "
    f"process_mem_gib={round(proc_mem / 2**30, 2)} series={sum(len(v) for k, v in second.items() if k.startswith('inference_gpu_'))}"
)
if problems:
    print("; ".join(problems) + " | " + detail)
    sys.exit(1)
print(detail)
EOF

# What answered must have been this exporter, not something else holding the port.
kill -0 "$EXPORTER_PID" 2>/dev/null || fail "the exporter exited (port $PORT in use?)"
summary "PASS $(cat "$WORK/result")"
