#!/usr/bin/env bash
# glassbox against PyTorch on the notebook's work, same machine, same run, same threads.
#
#   bash bench/compare_pytorch.sh [--rounds R] [--threads N] [--data DIR] [--raw FILE]
#
# Alternates bench_notebook (glassbox) and bench/notebook_torch.py (Debian's python3-torch)
# R times (default 2), so both see the same machine state, keeps each case's best round and
# prints a Markdown table with both figures and the ratio. --raw keeps the JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=2 threads=2 data="" raw=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --raw) raw=$2; shift 2 ;;
    *) echo "usage: bash bench/compare_pytorch.sh [--rounds R] [--threads N] [--data DIR] [--raw FILE]" >&2; exit 2 ;;
  esac
done
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "compare_pytorch: PyTorch is not installed for /usr/bin/python3 (apt-get install python3-torch)" >&2
  exit 1
fi
bin=build/release/bench/bench_notebook
if [ ! -x "$bin" ]; then
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build/release --target bench_notebook -j"$(nproc)" >/dev/null
fi
data_args=()
[ -n "$data" ] && data_args=(--data "$data")
out=${raw:-$(mktemp)}
: > "$out"
for r in $(seq "$rounds"); do
  echo "round $r/$rounds: glassbox" >&2
  "$bin" --threads "$threads" "${data_args[@]}" >> "$out"
  echo "round $r/$rounds: pytorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')" >&2
  OMP_NUM_THREADS=$threads /usr/bin/python3 bench/notebook_torch.py --threads "$threads" "${data_args[@]}" >> "$out"
done
/usr/bin/python3 bench/compare_table.py "$out" "$threads"
