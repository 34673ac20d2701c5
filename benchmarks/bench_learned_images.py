"""Throughput of the learned image canonicalization networks (skcanon.nn._images, and the
orbit-scored networks of skcanon.nn._orbit_images that the ``"prior"`` objective builds).

For C4, C8, D4 and SO(2) on 28×28 single-channel images, each network, this measures

* inference throughput of the frames (network forward + argmax / angle), images/s;
* inference throughput of ``canonicalize`` (frames + skcanon's exact image action), images/s;
* one training step (soft canonical form + identity prior, backward, Adam step), images/s;
* for C8: the share of smooth images (sklearn digits, upsampled and blurred) whose predicted
  element shifts by one step when the image is rotated by an odd multiple of 45°;
* peak resident memory of the process.

Timings are the best of several repeats after a warm-up (the machine may be shared; the
1-minute load average is recorded per row). Prints a table and one JSON line per row.
``--quick`` uses fewer images and repeats.

Run: ``python benchmarks/bench_learned_images.py [--quick] [--threads 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np
import torch

from skcanon.groups import get_group
from skcanon.layouts import ImageLayout
from skcanon.nn._images import build_image_network
from skcanon.nn._orbit_images import build_orbit_image_network


def smooth_digits(n, size=28, sigma=1.0):
    """sklearn digits (8×8) upsampled to 20×20, padded to ``size`` and Gaussian-blurred."""
    from scipy.ndimage import gaussian_filter, zoom
    from sklearn.datasets import load_digits

    X = load_digits().images
    X = X[np.arange(n) % len(X)]
    up = zoom(X, (1, 20 / 8, 20 / 8), order=1)
    out = np.zeros((n, size, size))
    o = (size - 20) // 2
    out[:, o:o + 20, o:o + 20] = up
    return gaussian_filter(out, (0, sigma, sigma))[:, None].astype(np.float32)


def best_time(fn, repeats):
    fn()  # warm-up
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def shift_rate(net, group, X, layout, seed=0):
    """Share of samples with frame(g·x) == g∘frame(x) for odd rotations (non-exact)."""
    rs = np.random.RandomState(seed)
    odd = [k for k in range(group.n) if 4 * k % group.n]
    g = rs.choice(odd, len(X))
    Xg = group.act(g, X, layout)
    with torch.no_grad():
        h = net.frames(torch.from_numpy(X)).numpy()
        hg = net.frames(torch.from_numpy(Xg)).numpy()
    return float(np.mean(hg == group.compose(g, h)))


def run(group_name, n, batch, repeats, X_smooth, orbit=False):
    layout = ImageLayout((28, 28))
    group = get_group(group_name)
    build = build_orbit_image_network if orbit else build_image_network
    net = build(group, layout, hidden=64, seed=0)
    net.eval()
    rate = shift_rate(net, group, X_smooth, layout) if group_name == "C8" else None
    x = torch.from_numpy(np.resize(X_smooth, (n, 1, 28, 28)))

    def frames():
        with torch.no_grad():
            for s in range(0, n, batch):
                net.frames(x[s:s + batch])

    def canon():
        with torch.no_grad():
            for s in range(0, n, batch):
                net.canonicalize(x[s:s + batch])

    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xb = x[:min(n, 256)]

    def step():
        opt.zero_grad()
        out = net.soft_canonicalize(xb)
        loss = net.prior_loss(xb) + out.square().mean()
        loss.backward()
        opt.step()

    t_frames = best_time(frames, repeats)
    t_canon = best_time(canon, repeats)
    t_step = best_time(step, repeats)
    net.eval()
    row = {
        **({"task": f"{group.name} orbit (prior)"} if orbit else {}),
        "group": group.name,
        "hidden": 64,
        "n_images": n,
        "frames_images_per_s": round(n / t_frames, 1),
        "canonicalize_images_per_s": round(n / t_canon, 1),
        "train_step_images_per_s": round(len(xb) / t_step, 1),
        "threads": torch.get_num_threads(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    if rate is not None:  # of the network at initialisation (seed 0)
        row["odd_45deg_shift_rate"] = round(rate, 4)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def _warm_up(X_smooth, seconds=2.0):
    """Run a throwaway network first: thread pools and oneDNN kernels start slowly."""
    net = build_image_network("C8", ImageLayout((28, 28)), seed=0)
    x = torch.from_numpy(np.resize(X_smooth, (1024, 1, 28, 28)))
    end = time.perf_counter() + seconds
    with torch.no_grad():
        while time.perf_counter() < end:
            net.frames(x)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n, repeats = (1024, 3) if args.quick else (4096, 7)
    X_smooth = smooth_digits(300 if args.quick else 1000)
    _warm_up(X_smooth)
    rows = [run(g, n, 1024, repeats, X_smooth, orbit=orbit) for orbit in (False, True)
            for g in ("C4", "C8", "D4", "SO2")]
    cols = ["task", "group", "frames_images_per_s", "canonicalize_images_per_s", "train_step_images_per_s",
            "odd_45deg_shift_rate", "peak_rss_mb"]
    print(" | ".join(f"{c:>26}" for c in cols))
    for r in rows:
        print(" | ".join(f"{str(r.get(c, '')):>26}" for c in cols))
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
