#!/usr/bin/python3
"""Markdown table from the JSON lines of bench_notebook and notebook_torch.py (best round)."""
import json
import platform
import subprocess
import sys
import time

# (row label, glassbox case, pytorch case, field, unit, lower is better)
ROWS = [
    ("conv forward, 3x860x1600 3->3 3x3 (Auto)", "conv_forward_auto_", "conv_forward", "ms", "ms", True),
    ("conv forward + backward (input and weight grads)", "conv_forward_backward_flat",
     "conv_forward_backward", "ms", "ms", True),
    ("training step, batch 1000", "train_step_b1000", "train_step_b1000", "images_per_s", "img/s", False),
    ("training epoch, real MNIST, data loading included", "train_epoch_mnist", "train_epoch_mnist",
     "seconds", "s", True),
    ("inference, 10,000 test images", "inference_10k", "inference_10k", "ms", "ms", True),
    ("peak resident memory, whole training run", "train_run_peak_memory", "train_run_peak_memory",
     "peak_rss_mb", "MB", True),
]


def main():
    path, threads = sys.argv[1], sys.argv[2]
    best = {}
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        for field, value in r.items():
            if not isinstance(value, (int, float)) or field == "threads":
                continue
            key = (r["framework"], r["case"], field)
            lower = field not in ("images_per_s", "gflop_per_s", "test_accuracy")
            old = best.get(key)
            best[key] = value if old is None else (min(old, value) if lower else max(old, value))

    def find(framework, case, field):
        for (f, c, fl), v in best.items():
            if f == framework and fl == field and (c == case or (case.endswith("_") and c.startswith(case))):
                return v, c
        return None, None

    try:
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name"))
    except Exception:
        model = platform.processor() or "unknown CPU"
    print(f"glassbox vs PyTorch, {time.strftime('%Y-%m-%d')}, {model}, {threads} threads each, "
          f"best of the rounds")
    print()
    print("| case | glassbox | PyTorch | PyTorch / glassbox |")
    print("| --- | ---: | ---: | ---: |")
    for label, gcase, tcase, field, unit, lower in ROWS:
        g, gname = find("glassbox", gcase, field)
        t, _ = find("pytorch", tcase, field)
        if gname and gname.startswith("conv_forward_auto_"):
            label = label.replace("(Auto)", f"(Auto -> {gname[len('conv_forward_auto_'):]})")
        if g is None or t is None:
            print(f"| {label} | {g if g is not None else 'n/a'} | {t if t is not None else 'n/a'} | |")
            continue
        ratio = t / g if lower else g / t
        print(f"| {label} | {number(g)} {unit} | {number(t)} {unit} | {ratio:.1f}x |")


def number(v):
    """Three significant digits, thousands with separators: 2.83, 58.4, 6,560."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


if __name__ == "__main__":
    main()
