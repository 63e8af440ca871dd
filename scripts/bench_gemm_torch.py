"""bench_gemm_torch.py - PyTorch's side of the GEMM rows of `make bench`:
OpenBLAS's sgemm through torch.mm, on the products build/gemm_bench times.

Run by scripts/bench.py (gemm_rows) with an interpreter that can import
torch, with OPENBLAS_NUM_THREADS set to the thread count as well (Debian's
pthread OpenBLAS ignores torch.set_num_threads). Reads gemm_bench's JSON
cases from argv and prints one JSON object: GFLOP/s per case, the fastest of
--reps runs after one warm-up, counted as 2 M N K flop like gemm_bench, and
timed like it: on one thread the CPU time of this thread (time.thread_time;
OpenBLAS then runs sgemm on the calling thread), on several the wall clock.
It also names the BLAS library loaded and, for OpenBLAS, the kernels it
chose (openblas_get_corename): without OpenBLAS (Debian: apt-get install
libopenblas0-pthread) torch.mm runs the reference BLAS, ~50 x slower.
  nt    torch.mm(a, b.t())   a (M,K), b (N,K)
  tn    torch.mm(a.t(), b)   a (K,M), b (K,N)
  nn    torch.mm(a, b)       a (M,K), b (K,N)
  gram  torch.mm(x.t(), x)   x (K,M): sgemm, the whole product
"""
import argparse
import ctypes
import json
import time

import torch


def blas_name():
    """The BLAS shared library this process loaded, and OpenBLAS's core name."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    with open("/proc/self/maps") as f:
        libs = sorted({l.split()[-1] for l in f if "blas" in l.lower() and ".so" in l})
    core = None
    for lib in libs:
        try:
            fn = ctypes.CDLL(lib).openblas_get_corename
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_char_p
        core = fn().decode()
    return libs, core


def time_case(op, M, N, K, reps, clock):
    g = torch.Generator().manual_seed(1)
    if op == "nt":
        a, b = torch.rand(M, K, generator=g), torch.rand(N, K, generator=g)
        f = lambda: torch.mm(a, b.t(), out=c)
    elif op == "tn":
        a, b = torch.rand(K, M, generator=g), torch.rand(K, N, generator=g)
        f = lambda: torch.mm(a.t(), b, out=c)
    elif op == "nn":
        a, b = torch.rand(M, K, generator=g), torch.rand(K, N, generator=g)
        f = lambda: torch.mm(a, b, out=c)
    else:
        x = torch.rand(K, M, generator=g)
        f = lambda: torch.mm(x.t(), x, out=c)
    c = torch.empty(M, N)
    best = float("inf")
    for r in range(reps + 1):
        t0 = clock()
        f()
        dt = clock() - t0
        if r > 0:
            best = min(best, dt)
    return 2.0 * M * N * K / best * 1e-9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("cases", help="JSON list of {op, M, N, K}")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    clock = time.thread_time if a.threads == 1 else time.perf_counter
    libs, core = blas_name()
    out = [dict(c, gflops=time_case(c["op"], c["M"], c["N"], c["K"], a.reps, clock))
           for c in json.loads(a.cases)]
    print(json.dumps({"torch_version": torch.__version__, "threads": torch.get_num_threads(),
                      "blas_libraries": libs, "openblas_core": core, "gemm": out}))


if __name__ == "__main__":
    main()
