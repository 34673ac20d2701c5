"""GPU rows of the benchmark suite: learned networks and a PCA kernel on CUDA.

Run through ``benchmarks/run.py --device cuda`` (or ``--suite gpu``), or directly::

    python benchmarks/bench_gpu.py                  # CUDA, full sizes (about 2 minutes on an H200)
    python benchmarks/bench_gpu.py --quick          # small sizes
    python benchmarks/bench_gpu.py --device cpu --quick   # checks this script without a GPU

Prints one JSON object per line (and nothing else on stdout). Every line carries the device
name and the date. Without CUDA (and without ``--device cpu``) every row is printed with
``"status": "not measured"`` and the reason — never a number.

Rows
----
* ``gpu/points SE3 ... 1024 pts``: ``CanonicalizerTransformer("SE3", "learned")`` on
  1,024-point clouds; ``gpu/images C4|C8|SO2 28x28`` and ``gpu/images C4 RGB 32x32``:
  ``CanonicalizerTransformer(group, "learned", layout=ImageLayout(...))``.

  - ``infer b64`` / ``infer best``: ``transform`` of host arrays (host → device, frames on
    the device, canonical forms back on the host: what a user gets), at ``batch_size=64`` and
    at the fastest of a sweep of batch sizes (``batch`` names it; ``effective_batch`` is the
    batch the network really sees after the library's per-step element cap).
    ``network_per_s``: the network's frames alone on device-resident tensors at that batch.
  - ``train b64`` / ``train best``: ``fit`` (skorch loop: forward, backward, Adam step) at
    mini-batch 64 and at the fastest allowed mini-batch (the trainer caps it at 256).
* ``gpu/pca SE3 torch kernel``: per-cloud PCA of 1,000,000 × 64 × 3 float32 clouds held on
  the device — centroid, batched 3×3 covariances, ``torch.linalg.eigh``, third-moment signs
  and the determinant fix of skcanon's SE(3) rule — timed against a device-to-device copy
  of the same tensor (``ratio``). ``decided_share``: samples whose signs are decided in
  float32 (skcanon's fast-path thresholds; the rest would need its general tie rules, which
  this kernel does not implement); ``agree_with_cpu``: share of a 4,096-sample subset whose
  canonical form equals ``CanonicalizerTransformer("SE3", "pca")`` on the CPU (decided
  samples only).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

#: row names, in order (also printed as "not measured" rows without CUDA)
POINT_MODELS = [("points SE3 1024 pts", "SE3", None)]
IMAGE_MODELS = [("images C4 28x28", "C4", (1, 28, 28)), ("images C8 28x28", "C8", (1, 28, 28)),
                ("images SO2 28x28", "SO2", (1, 28, 28)), ("images C4 RGB 32x32", "C4", (3, 32, 32))]
KINDS = ("infer b64", "infer best", "train b64", "train best")
PCA_ROWS = ("pca SE3 torch kernel gaussian", "pca SE3 torch kernel skewed")


def row_names():
    names = [f"gpu/{label} {kind}" for label, _, _ in POINT_MODELS + IMAGE_MODELS for kind in KINDS]
    return names + [f"gpu/{name}" for name in PCA_ROWS]


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def device_info(device):
    import torch

    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        return {"device": device, "device_name": torch.cuda.get_device_name(device),
                "device_memory_gb": round(props.total_memory / 2**30, 1), "torch": torch.__version__,
                "cuda": torch.version.cuda}
    return {"device": device, "device_name": "cpu (dry run, not a GPU figure)", "torch": torch.__version__}


def _sync(device):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def _timed(fn, device, repeats=2):
    """Best wall time of ``fn()`` after one warm-up call (device synchronized)."""
    fn()
    _sync(device)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def _peak_mb(device):
    import torch

    if not device.startswith("cuda"):
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def _reset_peak(device):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _clouds(n, m, seed=0):
    rs = np.random.default_rng(seed)
    return (rs.normal(size=(n, m, 3)) * [3.0, 2.0, 1.0] + rs.exponential(0.5, size=(n, m, 3))).reshape(
        n, -1).astype(np.float32)


def _images(n, shape, seed=0):
    c, size, _ = shape
    rs = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2.0
    out = np.empty((n, c * size * size), dtype=np.float32)
    for s in range(0, n, 4096):
        k = min(4096, n - s)
        cx, cy = rs.normal(scale=3, size=(2, k, 1, 1))
        a = rs.uniform(2, 5, size=(k, 1, 1))
        img = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2 / 4) / (2 * a**2))
        img = img + 0.7 * np.exp(-((xx - cx - 5) ** 2 + (yy - cy - 2) ** 2) / 3)
        out[s:s + k] = np.repeat(img[:, None], c, axis=1).reshape(k, -1)
    return out


def network_rows(device, quick, deadline=np.inf):
    """Inference and training rows of every learned network on ``device``."""
    rows = []
    for label, group, shape in POINT_MODELS + IMAGE_MODELS:
        if time.monotonic() > deadline:
            rows.extend({"name": f"gpu/{label} {kind}", "status": "not measured",
                         "note": "time budget of this run spent (--budget-s)"} for kind in KINDS)
            continue
        try:
            rows.extend(model_rows(device, quick, label, group, shape))
        except Exception as exc:  # noqa: BLE001 - report and go on with the next model
            rows.append({"name": f"gpu/{label}", "error": f"{type(exc).__name__}: {exc}"})
        print(f"  {label} done", file=sys.stderr, flush=True)
    return rows


def model_rows(device, quick, label, group, shape):
    """The four rows (inference and training, batch 64 and best) of one learned network."""
    import torch

    from skcanon import CanonicalizerTransformer
    from skcanon.canonicalizers._learned import _INFERENCE_ELEMENTS
    from skcanon.layouts import ImageLayout

    rows = []
    sweep = (64, 256, 1024, 4096) if not quick else (64, 256)
    points = shape is None
    per_sample = 1024 * 3 if points else int(np.prod(shape))
    if points:
        n_infer, n_train = (512, 256) if quick else (16_384, 4_096)
        X = _clouds(n_infer, 1024)
        y = np.arange(n_infer) % 4
        kw = dict(objective="supervised")
    else:
        n_infer, n_train = (1_024, 512) if quick else (65_536, 8_192)
        X = _images(n_infer, shape)
        y = None
        kw = dict(objective="prior", layout=ImageLayout(shape))

    def make(batch_size, epochs=1):
        return CanonicalizerTransformer(group, "learned", hidden=64, max_epochs=epochs, early_stopping=False,
                                        random_state=0, device=device, batch_size=batch_size, **kw)

    common = {"dtype": "float32", "shape": [1024, 3] if points else list(shape), "group": group}
    # training: the library's fit, one epoch, at mini-batch 64 and the largest allowed
    fallback_note = None
    try:
        make(64).fit(X[:128], y[:128]) if y is not None else make(64).fit(X[:128])
    except Exception as exc:  # noqa: BLE001 - e.g. a supervised loss that fails on the device
        if y is None:
            raise
        # measure the network with the unsupervised objective rather than not at all
        fallback_note = f"objective={kw['objective']!r} failed on {device}: {type(exc).__name__}: {exc}"[:300]
        kw["objective"], y = "align", None
    train = {}
    for b in (64, 256):
        fit = (lambda b=b: make(b).fit(X[:n_train], y[:n_train])) if y is not None else \
            (lambda b=b: make(b).fit(X[:n_train]))
        _reset_peak(device)
        secs = _timed(fit, device, repeats=1)
        train[b] = (secs, _peak_mb(device))
    canon = make(64).fit(X[:n_train], y[:n_train]) if y is not None else make(64).fit(X[:n_train])
    # inference: transform of host arrays, batch sweep
    infer = {}
    net = canon.canonicalizer_.network_
    x_dev = torch.as_tensor(X.reshape((n_infer,) + ((1024, 3) if points else shape)), device=device)
    for b in sweep:
        canon.set_params(batch_size=b)
        canon.canonicalizer_.batch_size = b
        _reset_peak(device)
        secs = _timed(lambda: canon.transform(X), device, repeats=1 if not quick else 1)
        peak = _peak_mb(device)

        def frames(b=b):
            with torch.inference_mode():
                for s in range(0, n_infer, b):
                    net.frames(x_dev[s:s + b])

        net_secs = _timed(frames, device, repeats=1)
        infer[b] = (secs, peak, net_secs)
    best_b = min(infer, key=lambda b: infer[b][0])
    for kind, b in (("infer b64", 64), ("infer best", best_b)):
        secs, peak, net_secs = infer[b]
        rows.append({"name": f"gpu/{label} {kind}", "n_samples": n_infer, "seconds": secs, "batch": b,
                     "effective_batch": min(b, max(1, _INFERENCE_ELEMENTS // per_sample)),
                     "throughput": n_infer / secs, "network_per_s": n_infer / net_secs,
                     "peak_device_mb": peak, **common})
    best_t = min(train, key=lambda b: train[b][0])
    for kind, b in (("train b64", 64), ("train best", best_t)):
        secs, peak = train[b]
        rows.append({"name": f"gpu/{label} {kind}", "n_samples": n_train, "seconds": secs, "batch": b,
                     "epochs": 1, "throughput": n_train / secs, "peak_device_mb": peak,
                     "objective": kw["objective"], **common,
                     "note": "fit of one epoch, set-up included (skorch loop)"
                     + (f"; {fallback_note}" if fallback_note else "")})
    return rows


def torch_pca_se3(X, decided_rtol=3e-6):
    """Canonical forms of SE(3) PCA for ``X`` of shape (n, m, 3) on its device.

    The rule of skcanon's fast path: axes by decreasing variance, each axis signed so the
    third moment along it is positive, and when the determinant is -1 the least certain axis
    (smallest normalized third moment) flipped. Returns ``(Z, decided)``; ``decided`` is
    False where some normalized third moment is below ``decided_rtol`` (skcanon settles
    those by its general tie rules, which are not reproduced here).
    """
    import torch

    n, m, _ = X.shape
    c = X.mean(dim=1, keepdim=True)
    Xc = X - c
    C = torch.bmm(Xc.transpose(1, 2), Xc) / m                     # (n, 3, 3)
    lam, V = torch.linalg.eigh(C)                                  # ascending
    lam, V = lam.flip(-1), V.flip(-1)
    proj = torch.bmm(Xc, V)                                        # (n, m, 3)
    m3 = proj.pow(3).mean(dim=1)                                   # (n, 3)
    trace = lam.sum(-1).clamp_min(1e-30)
    strength = m3.abs() / trace[:, None].pow(1.5)
    sign = torch.where(m3 < 0, -1.0, 1.0).to(X.dtype)
    det = torch.linalg.det(V) * sign.prod(-1)
    weakest = strength.argmin(-1)
    flip = torch.nn.functional.one_hot(weakest, 3).to(torch.bool) & (det < 0)[:, None]
    sign = torch.where(flip, -sign, sign)
    Z = proj * sign[:, None, :]
    decided = (strength > decided_rtol).all(-1) & (lam[:, :-1] - lam[:, 1:] > 1e-3 * trace[:, None]).all(-1)
    return Z, decided


def pca_rows(device, quick, deadline=np.inf):
    import torch

    if time.monotonic() > deadline:
        return [{"name": f"gpu/{name}", "status": "not measured",
                 "note": "time budget of this run spent (--budget-s)"} for name in PCA_ROWS]

    n = 20_000 if quick else 1_000_000
    rows = []
    for kind in ("gaussian", "skewed"):
        gen = torch.Generator(device=device).manual_seed(0)
        _reset_peak(device)
        X = torch.empty((n, 64, 3), dtype=torch.float32, device=device)
        scales = torch.tensor([3.0, 2.0, 1.0], device=device)
        for s in range(0, n, 131_072):
            k = min(131_072, n - s)
            P = torch.randn((k, 64, 3), generator=gen, device=device) * scales
            if kind == "skewed":
                P = P + torch.empty((k, 64, 3), device=device).exponential_(2.0, generator=gen)
            X[s:s + k] = P + torch.randn((k, 1, 3), generator=gen, device=device)
        base = torch.cuda.memory_allocated(device) / 2**20 if device.startswith("cuda") else None
        _reset_peak(device)
        copy_s = _timed(lambda: X.clone(), device, repeats=5)
        secs = _timed(lambda: torch_pca_se3(X), device, repeats=3)
        peak = _peak_mb(device)
        Z, decided = torch_pca_se3(X)
        decided_share = float(decided.float().mean())
        # agreement with skcanon's CPU PCA on a subset (decided samples)
        from skcanon import CanonicalizerTransformer

        k = min(4096, n)
        Xh = X[:k].cpu().numpy().reshape(k, -1)
        ref = CanonicalizerTransformer("SE3", "pca").fit(Xh[:8]).transform(Xh).reshape(k, 64, 3)
        Zh, dh = Z[:k].cpu().numpy(), decided[:k].cpu().numpy()
        err = np.abs(Zh - ref).max(axis=(1, 2)) / np.abs(ref).max(axis=(1, 2))
        agree = float(np.mean(err[dh] < 1e-3)) if dh.any() else None
        rows.append({"name": f"gpu/pca SE3 torch kernel {kind}", "n_samples": n, "shape": [64, 3],
                     "dtype": "float32", "seconds": secs, "copy_seconds": copy_s,
                     "copy_kind": "device-to-device clone", "ratio": secs / copy_s, "throughput": n / secs,
                     "decided_share": decided_share, "agree_with_cpu": agree,
                     "peak_device_mb": None if peak is None else round(peak - base, 1)})
        del X, Z, decided
    return rows


def not_measured(reason):
    return [{"name": name, "status": "not measured", "note": reason} for name in row_names()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    parser.add_argument("--budget-s", type=float, default=float("inf"),
                        help="seconds after which remaining rows are reported as not measured")
    args = parser.parse_args(argv)
    stamp = {"date": _now()}
    errors = []

    def emit(rows, info):
        """Print rows as soon as they exist: a run cut short keeps what it measured."""
        for row in rows:
            row.update(info)
            row.update(stamp)
            row["quick"] = bool(args.quick)
            errors.extend([row["name"]] if "error" in row else [])
            print(json.dumps(row, default=str), flush=True)

    try:
        import torch
    except ImportError:
        emit(not_measured("torch is not installed"), {"device": args.device})
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        emit(not_measured("no accelerator in this run (torch.cuda.is_available() is False)"),
             {"device": args.device, "device_name": None, "torch": torch.__version__})
        return 0
    info = device_info(args.device)
    if not args.device.startswith("cuda"):
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    deadline = time.monotonic() + args.budget_s
    try:
        emit(pca_rows(args.device, args.quick, deadline), info)
    except Exception as exc:  # noqa: BLE001 - report and go on with the networks
        emit([{"name": "gpu/pca SE3 torch kernel", "error": f"{type(exc).__name__}: {exc}"}], info)
    for label, group, shape in POINT_MODELS + IMAGE_MODELS:
        if time.monotonic() > deadline:
            emit([{"name": f"gpu/{label} {kind}", "status": "not measured",
                   "note": "time budget of this run spent (--budget-s)"} for kind in KINDS], info)
            continue
        try:
            emit(model_rows(args.device, args.quick, label, group, shape), info)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next model
            emit([{"name": f"gpu/{label}", "error": f"{type(exc).__name__}: {exc}"}], info)
        print(f"  {label} done", file=sys.stderr, flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
