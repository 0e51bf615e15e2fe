#!/usr/bin/python3
"""The cases of bench_notebook, in PyTorch: one JSON line per case on stdout.

    bench/notebook_torch.py [--threads N] [--data DIR] [--cases conv,step,epoch,infer,memory]

Same work as bench/bench_notebook.cpp: the notebook's 3x860x1600 3->3 emboss convolution
(forward, forward + backward), one training step of the notebook's CNN at batch 1000, one
epoch on real MNIST (data kept as bytes, normalised per batch, shuffled batches of 1000),
inference on the 10,000 test images, and the peak resident memory of a whole training run in
a fresh child process. Timing rules are the same (median after a warm-up; best of two epochs
after a warm-up epoch). Needs Debian's python3-torch; only for comparison, never for a build.
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.1307, 0.3081


def emit(case, **fields):
    print(json.dumps({"framework": "pytorch", "case": case,
                      "threads": torch.get_num_threads(), **fields}), flush=True)


def median_ms(fn, budget_ms=1000.0, min_reps=5):
    fn()
    times = []
    while (sum(times) < budget_ms or len(times) < min_reps) and len(times) < 200:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


class Net(nn.Module):  # the notebook's CNN, as examples/mnist/net.cpp
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, 3)
        self.conv2 = nn.Conv2d(3, 3, 3)
        self.conv3 = nn.Conv2d(3, 6, 3)
        self.conv4 = nn.Conv2d(6, 6, 3)
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(0.2)
        self.fc1 = nn.Linear(96, 30)
        self.fc2 = nn.Linear(30, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.conv3(x))
        x = self.pool(F.relu(self.conv4(x)))
        x = self.dropout(torch.flatten(x, 1))
        x = self.dropout(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def find_data(explicit):
    for d in ([explicit] if explicit else ["data/mnist", "../shared/data/mnist"]):
        if os.path.exists(os.path.join(d, "train-images-idx3-ubyte.gz")):
            return d
    sys.exit("notebook_torch.py: MNIST not found (pass --data DIR)")


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load_mnist(d):
    def split(prefix):
        images = read_idx(os.path.join(d, prefix + "-images-idx3-ubyte.gz"), 16)
        labels = read_idx(os.path.join(d, prefix + "-labels-idx1-ubyte.gz"), 8)
        return (torch.from_numpy(images.copy()).view(-1, 1, 28, 28),
                torch.from_numpy(labels.astype(np.int64)))
    return split("train"), split("t10k")


def batches(images, labels, batch_size, generator=None):
    n = images.shape[0]
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        idx = order[i:i + batch_size]
        yield (images[idx].float() / 255.0 - MEAN) / STD, labels[idx]


def train_step(net, opt, x, y):
    loss = F.nll_loss(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def train_epoch(net, opt, train, generator):
    t0 = time.perf_counter()
    for x, y in batches(*train, 1000, generator):
        train_step(net, opt, x, y)
    return time.perf_counter() - t0


def infer_all(net, test):
    net.eval()
    correct = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for x, y in batches(*test, 1000):
            correct += int((net(x).argmax(1) == y).sum())
    ms = (time.perf_counter() - t0) * 1000
    net.train()
    return ms, correct


def bench_conv():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 860, 1600)
    emboss = torch.tensor([[-2., -1., 0.], [-1., 1., 1.], [0., 1., 2.]])
    w = torch.zeros(3, 3, 3, 3)
    for c in range(3):
        w[c, c] = emboss
    flop = 2.0 * 858 * 1598 * 3 * 27
    with torch.no_grad():
        ms = median_ms(lambda: F.conv2d(x, w))
    emit("conv_forward", ms=ms, gflop_per_s=flop / (ms * 1e6))
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    dy = torch.rand(1, 3, 858, 1598)

    def fwd_bwd():
        xg.grad = None
        wg.grad = None
        F.conv2d(xg, wg).backward(dy)
    emit("conv_forward_backward", ms=median_ms(fwd_bwd))


def bench_cnn(train, test, cases):
    if "step" in cases:
        torch.manual_seed(0)
        net = Net()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = (train[0][:1000].float() / 255.0 - MEAN) / STD
        y = train[1][:1000]
        ms = median_ms(lambda: train_step(net, opt, x, y), 2000, 10)
        emit("train_step_b1000", ms=ms, images_per_s=1000 / (ms / 1000))
    if "epoch" in cases:
        torch.manual_seed(0)
        net = Net()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(0)
        train_epoch(net, opt, train, gen)  # warm-up
        s = min(train_epoch(net, opt, train, gen), train_epoch(net, opt, train, gen))
        emit("train_epoch_mnist", ms=s * 1000, seconds=s)
    if "infer" in cases:
        torch.manual_seed(0)
        net = Net()
        ms = statistics.median(infer_all(net, test)[0] for _ in range(7))
        emit("inference_10k", ms=ms, images_per_s=10000 / (ms / 1000))


def peak_rss_mb():
    """VmHWM: this process's own peak (ru_maxrss carries the parent's across fork and exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def training_run(data_dir):
    train, test = load_mnist(data_dir)
    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    seconds = train_epoch(net, opt, train, torch.Generator().manual_seed(0))
    _, correct = infer_all(net, test)
    rss_mb = peak_rss_mb()
    emit("train_run_peak_memory", peak_rss_mb=rss_mb, epoch_seconds=seconds,
         test_accuracy=correct / 10000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default="")
    ap.add_argument("--cases", default="conv,step,epoch,infer,memory")
    ap.add_argument("--child-training-run", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data_dir = find_data(args.data)
    if args.child_training_run:
        return training_run(data_dir)
    cases = set(args.cases.split(","))
    if "conv" in cases:
        bench_conv()
    if cases & {"step", "epoch", "infer"}:
        train, test = load_mnist(data_dir)
        bench_cnn(train, test, cases)
    if "memory" in cases:
        sys.stdout.flush()
        subprocess.run([sys.executable, os.path.abspath(__file__), "--child-training-run",
                        "--threads", str(args.threads), "--data", data_dir], check=True)


if __name__ == "__main__":
    main()
