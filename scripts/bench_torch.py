"""bench_torch.py - PyTorch's side of `make bench`: ms per epoch of the same
models on the same shapes, and which BLAS PyTorch's CPU matmuls use.

Run by scripts/bench.py with an interpreter that can import torch; prints one
JSON object. Each model trains full-batch with Adam (lr 0.01) on MSE, as
lora_demo does:
  dense     nn.Linear(I, O)
  notebook  the notebook-style LoRALayer: W = B @ A, then x @ W.T * scale
  finetune  a frozen nn.Linear(I, O) plus B(A(x)) * scale (A, B nn.Linear
            without bias, B zero-initialised as PEFT does)
  net_dense, net_lora (with --hidden H): the network I -> H -> O with relu
            between the layers (lora_demo --hidden H --activation relu),
            every layer trained, or every layer a frozen Linear plus B(A(x))
Each model runs `reps` rounds of `epochs` epochs after one warm-up epoch;
the median round gives ms per epoch. With --whole, each model is instead
built afresh `reps` times and timed over whole runs of `epochs` epochs, from
the first forward to the last Adam step (no warm-up: what a user waits for
once the data is in memory); the median run gives ms per run.
With --svd N, only the SVD of an N x N float64 matrix of standard normals
is timed instead: torch.linalg.svdvals and torch.linalg.svd(A,
full_matrices=False) (LAPACK gesdd), least wall time of `reps`, in seconds;
build/svd_time N N times lora_demo's (docs/performance.md, "The SVD").

Threads: torch.set_num_threads(T) sets PyTorch's own pool, but Debian's
OpenBLAS (the pthread build) keeps its own thread count, so bench.py also
sets OPENBLAS_NUM_THREADS=T (and OMP_NUM_THREADS=T) for this process.
"""
import argparse
import json
import os
import statistics
import time

import torch


class LoRALayer(torch.nn.Module):
    """The notebook's layer: the low-rank product is formed as a full matrix."""

    def __init__(self, in_features, out_features, rank, alpha):
        super().__init__()
        self.A = torch.nn.Parameter(torch.empty(rank, in_features).uniform_(-1, 1) / in_features ** 0.5)
        self.B = torch.nn.Parameter(torch.empty(out_features, rank).uniform_(-1, 1) / rank ** 0.5)
        self.scaling = alpha / rank

    def forward(self, x):
        W = self.B @ self.A
        return x @ W.T * self.scaling


class FineTune(torch.nn.Module):
    """A frozen base layer plus a LoRA update in the low-rank order."""

    def __init__(self, in_features, out_features, rank, alpha):
        super().__init__()
        self.base = torch.nn.Linear(in_features, out_features)
        self.base.requires_grad_(False)
        self.lora_A = torch.nn.Linear(in_features, rank, bias=False)
        self.lora_B = torch.nn.Linear(rank, out_features, bias=False)
        torch.nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / rank

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


class Net(torch.nn.Module):
    """layers[0] -> relu -> layers[1]: lora_demo's --hidden network."""

    def __init__(self, layers):
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, x):
        return self.layers[1](torch.relu(self.layers[0](x)))


def blas_info():
    """Which BLAS the process actually loaded, and what torch says it was built with."""
    a = torch.ones(64, 64)
    _ = a @ a  # make sure the BLAS library is loaded
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path).lower()
                if any(k in name for k in ("blas", "mkl", "lapack", "blis")):
                    libs.add(path)
    except OSError:
        pass
    config = torch.__config__.show()
    build = [l.strip() for l in config.splitlines() if "BLAS" in l or "LAPACK" in l or "MKL" in l]
    openblas = any("openblas" in p.lower() for p in libs)
    return {
        "torch_version": torch.__version__,
        "loaded_blas_libraries": sorted(libs),
        "uses_openblas": openblas,
        "mkl_available": bool(getattr(torch.backends, "mkl", None) and torch.backends.mkl.is_available()),
        "build_lines": build,
        "torch_threads": torch.get_num_threads(),
    }


def time_model(model, x, y, epochs, reps):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=0.01)
    loss_fn = torch.nn.MSELoss()

    def epoch():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    epoch()  # warm-up: first-touch allocations, library initialisation
    rounds = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(epochs):
            epoch()
        rounds.append((time.perf_counter() - t0) * 1e3 / epochs)
    return {"ms_per_epoch": statistics.median(rounds), "rounds_ms": rounds}


def time_whole(make_model, x, y, epochs, reps):
    """Whole runs: a fresh model and optimizer each time, `epochs` epochs
    timed from the first forward to the last step."""
    loss_fn = torch.nn.MSELoss()
    runs = []
    for _ in range(reps):
        model = make_model()
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
        t0 = time.perf_counter()
        for _ in range(epochs):
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        runs.append((time.perf_counter() - t0) * 1e3)
    return {"ms": statistics.median(runs), "runs_ms": runs}


def time_svd(n, reps):
    """Least wall seconds of svdvals and of svd with U and V, n x n float64."""
    torch.manual_seed(0)
    a = torch.randn(n, n, dtype=torch.float64)
    best = {"n": n, "values_s": float("inf"), "vectors_s": float("inf")}
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.linalg.svdvals(a)
        t1 = time.perf_counter()
        torch.linalg.svd(a, full_matrices=False)
        t2 = time.perf_counter()
        best["values_s"] = min(best["values_s"], t1 - t0)
        best["vectors_s"] = min(best["vectors_s"], t2 - t1)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--in", dest="inp", type=int, default=1024)
    ap.add_argument("--out", type=int, default=1024)
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=0, help="also time the I -> H -> O network")
    ap.add_argument("--only-network", action="store_true")
    ap.add_argument("--whole", action="store_true", help="time whole runs of --epochs epochs")
    ap.add_argument("--svd", type=int, default=0, help="only time the SVD of an N x N matrix")
    args = ap.parse_args()
    if args.svd > 0:
        torch.set_num_threads(args.threads)
        print(json.dumps({"blas": blas_info(), "threads": args.threads,
                          "svd": time_svd(args.svd, args.reps)}))
        return

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.samples, args.inp)
    y = torch.randn(args.samples, args.out)
    r = args.rank
    out = {"blas": blas_info(), "threads": args.threads, "epochs": args.epochs, "reps": args.reps}
    I, O = args.inp, args.out
    if args.whole:
        out["whole"] = {
            "dense": time_whole(lambda: torch.nn.Linear(I, O), x, y, args.epochs, args.reps),
            "notebook": time_whole(lambda: LoRALayer(I, O, r, r), x, y, args.epochs, args.reps),
            "finetune": time_whole(lambda: FineTune(I, O, r, r), x, y, args.epochs, args.reps),
        }
        print(json.dumps(out))
        return
    if not args.only_network:
        out["dense"] = time_model(torch.nn.Linear(args.inp, args.out), x, y, args.epochs, args.reps)
        out["notebook"] = time_model(LoRALayer(args.inp, args.out, r, r), x, y, args.epochs,
                                     args.reps)
        out["finetune"] = time_model(FineTune(args.inp, args.out, r, r), x, y, args.epochs,
                                     args.reps)
    if args.hidden > 0:
        h = args.hidden
        out["net_dense"] = time_model(Net([torch.nn.Linear(args.inp, h), torch.nn.Linear(h, args.out)]),
                                      x, y, args.epochs, args.reps)
        out["net_lora"] = time_model(Net([FineTune(args.inp, h, r, r), FineTune(h, args.out, r, r)]),
                                     x, y, args.epochs, args.reps)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
