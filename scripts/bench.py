"""bench.py - `make bench`: lora_demo against PyTorch on the same CPU.

Python standard library only; the PyTorch side (scripts/bench_torch.py and
scripts/notebook_reference.py) runs under an interpreter that can import
torch, found by find_torch_python(). Nothing here is a test: it only
measures and prints. The machine is shared and noisy, so every number is
the median of several runs.

What it runs (defaults: --in 1024 --out 1024 --samples 4096 --rank 8, a few
epochs, one thread):
  1. ./lora_demo on that shape, training the dense model and LoRA r=8 from
     scratch: ms per epoch = summary.json train_ms / epochs, and the peak
     resident memory of the process (wait4's ru_maxrss);
  2. the LoRA r=8 fine-tune: `./lora_demo --experiment finetune` when the
     runner has it (models[] entry lora_r<rank>), otherwise the library
     through build/lora_bench (a LoRA on a frozen random base), said so;
  3. build/lora_bench for the one-time setup the runner does before its
     first epoch (X^T X and Y^T X for the dense closed form; X^T X, R0^T X
     and, for the fine-tune, the frozen base's output for the LoRA closed
     form), which train_ms leaves out (summary.json's setup_ms);
  4. PyTorch: nn.Linear, the notebook's LoRALayer (W = B @ A, x @ W.T) and
     the fine-tune form (frozen nn.Linear + B(A x)), same shapes, same
     thread count (torch.set_num_threads and OPENBLAS_NUM_THREADS), and
     which BLAS it loaded;
  4b. a network, I -> H -> O with relu (--hidden, default 1024): dense
     and LoRA r=8 on every frozen layer, `./lora_demo --experiment
     finetune --hidden H` (pretraining is not timed: train_ms is
     fine-tuning only) against the same network in PyTorch;
  5. whole processes: `./lora_demo --epochs 100 --seed 42` against
     `python3 scripts/notebook_reference.py`, wall time from posix_spawn to
     wait4, medians (and the fastest run, printed below the table).
  6. whole runs (issue 15): 100 epochs of each of the three models at the
     shape above, set-up included (build/lora_bench's setup_ms + train_ms),
     on 1 and 2 threads (alternating; the speed-up from the fastest of
     --reps each, with the load before and after), against PyTorch's same
     100 epochs from the first forward to the last step (bench_torch.py
     --whole); the same runs on CPU clocks (serial CPU, each thread's jobs,
     the ideal 2-thread time, docs/performance.md "Two threads"); then the
     same ratios on 1 thread for d = 256 ... 2048 (--sweep; --sweep ""
     skips it).
Then the table of ratios against the targets, and peak RSS against the
bytes of the arrays the run must hold.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, env=None):
    """Run cmd; return (wall seconds, stdout text)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()}")
    return wall, out


def run_rss(cmd, env=None):
    """Run cmd with stdout discarded; return (wall seconds, peak RSS bytes).

    posix_spawn, not os.fork: forking this Python process and running the
    interpreter in the child until exec cost ~3 ms here (page-table copy and
    copy-on-write faults), as much as the whole lora_demo process; a shell
    starting a command, or posix_spawn, costs ~0.1 ms."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawnp(cmd[0], cmd, env if env is not None else os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
    finally:
        os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with status {status}")
    return wall, usage.ru_maxrss * 1024  # Linux reports KiB


def find_torch_python(explicit):
    """An interpreter that can import torch: --torch-python, $TORCH_PYTHON,
    /usr/bin/python3 (Debian's python3-torch), then python3 on PATH."""
    candidates = [explicit, os.environ.get("TORCH_PYTHON"), "/usr/bin/python3", shutil.which("python3"),
                  sys.executable]
    for c in candidates:
        if not c or not os.path.exists(c):
            continue
        probe = subprocess.run([c, "-c", "import torch"], capture_output=True)
        if probe.returncode == 0:
            return c
    return None


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(l.split(":", 1) for l in out.splitlines() if ":" in l)
        name = fields.get("Model name", "?").strip()
        cpus = fields.get("CPU(s)", "?").strip()
        flags = fields.get("Flags", "")
        isa = [f for f in ("avx2", "fma", "avx512f") if f in flags.split()]
        return f"{name}, {cpus} CPUs, {'/'.join(isa) or 'no AVX2'}"
    except OSError:
        return platform.processor() or "?"


def has_finetune(binary):
    _, text = run([binary, "--help"])
    return "--experiment" in text and "finetune" in text


def summary_ms(outdir, name):
    with open(os.path.join(outdir, "summary.json")) as f:
        s = json.load(f)
    for m in s["models"]:
        if m["name"] == name:
            return m["train_ms"]
    raise KeyError(f"no model {name} in {outdir}/summary.json")


def fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


# --- whole runs (issue 15): setup plus every epoch, against PyTorch's same run

# (lora_bench model, bench_torch.py model, label): PyTorch's side is nn.Linear,
# the notebook's LoRALayer, and a frozen nn.Linear + B(A x)
MODELS = (("dense", "dense", "dense"),
          ("scratch", "notebook", "LoRA scratch"),
          ("finetune", "finetune", "LoRA fine-tune"))


def ours_whole(a, dim, threads_list, epochs):
    """build/lora_bench for each model and thread count, the thread counts
    alternating within each of a.reps rounds (so that a change of load hits
    both alike): per thread count and model the median run, with
    whole_ms = setup + epochs and min_whole_ms the fastest of the rounds."""
    shape = ["--in", str(dim), "--out", str(dim), "--samples", str(a.samples)]
    runs = {T: {kind: [] for kind, _, _ in MODELS} for T in threads_list}
    for _ in range(a.reps):
        for kind, _, _ in MODELS:
            for T in threads_list:
                _, text = run([a.bench_bin, kind, *shape, "--epochs", str(epochs),
                               "--rank", str(a.rank), "--threads", str(T)])
                v = json.loads(text)
                v["whole_ms"] = v["setup_ms"] + v["train_ms"]
                runs[T][kind].append(v)
    res = {}
    for T in threads_list:
        res[T] = {}
        for kind, vals in runs[T].items():
            vals.sort(key=lambda v: v["whole_ms"])
            res[T][kind] = dict(vals[len(vals) // 2], min_whole_ms=vals[0]["whole_ms"])
    return res


def load_now():
    """The 1-minute load average and the runnable tasks (/proc/loadavg)."""
    try:
        with open("/proc/loadavg") as f:
            p = f.read().split()
        return f"load {p[0]}, runnable {p[3].split('/')[0]}"
    except OSError:
        return "load unknown"


def torch_whole(a, py, dim, threads, epochs, reps):
    """bench_torch.py --whole: PyTorch's whole-run ms per model, or None without torch."""
    if py is None:
        return None
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    _, text = run([py, os.path.join(HERE, "bench_torch.py"), "--in", str(dim), "--out", str(dim),
                   "--samples", str(a.samples), "--epochs", str(epochs), "--rank", str(a.rank),
                   "--threads", str(threads), "--reps", str(reps), "--whole"], env=env)
    return {k: v["ms"] for k, v in json.loads(text)["whole"].items()}


def whole_runs(a, py):
    """Table: whole runs at a.inp -> a.out (a square shape is assumed: --in)
    on 1 and 2 threads, ours against PyTorch, and 2 threads against 1."""
    E = a.whole_epochs
    targets = {"dense": 4.0, "scratch": 30.0, "finetune": 30.0}
    before = load_now()
    ours = ours_whole(a, a.inp, (1, 2), E)
    after = load_now()
    out = {T: {"ours": ours[T], "torch": torch_whole(a, py, a.inp, T, E, a.torch_whole_reps)}
           for T in (1, 2)}
    print(f"whole runs: {E} epochs including set-up, {a.inp} -> {a.inp}, N = {a.samples}, r = {a.rank}"
          f" (ms, median of {a.reps}; ratio = PyTorch / lora_demo; speed-up = 1 thread / 2 threads,"
          f" fastest of {a.reps} each)")
    print(f"| {'model':<14} | {'path':<11} | thr | {'set-up':>8} | {'lora_demo':>9} | {'PyTorch':>9} |"
          f" {'ratio':>6} | target | met | speed-up  |")
    print(f"|{'-' * 16}|{'-' * 13}|-----|{'-' * 10}|{'-' * 11}|{'-' * 11}|{'-' * 8}|--------|-----|-----------|")
    for T in (1, 2):
        for kind, tkey, label in MODELS:
            o = out[T]["ours"][kind]
            t = out[T]["torch"][tkey] if out[T]["torch"] else None
            r = t / o["whole_ms"] if t else None
            met = "-" if r is None or T != 1 else ("yes" if r >= targets[kind] else "NO")
            sp = out[1]["ours"][kind]["min_whole_ms"] / o["min_whole_ms"] if T == 2 else None
            spt = "" if sp is None else f"{sp:.2f}" + (" ok" if sp >= 1.6 else " <1.6")
            print(f"| {label:<14} | {o['method']:<11} | {T:>3} | {o['setup_ms']:>8.1f} |"
                  f" {o['whole_ms']:>9.1f} | {fmt(t, 1):>9} | {fmt(r, 2):>6} |"
                  f" {'>= ' + format(targets[kind], 'g') if T == 1 else '':<6} | {met:<3} | {spt:>9} |")
    print(f"our runs from {before} to {after} (cores: {os.cpu_count()})")
    print()
    amdahl(out)
    return out


def amdahl(out):
    """The same runs on CPU clocks (lora_bench's *_cpu_ms, *_serial_ms and
    *_ideal_ms, from pool_timing): what 2 threads would take on free cores,
    whatever the load was. bound = 1-thread CPU / 2-thread ideal."""
    print("the same runs on CPU clocks (ms, setup + epochs): 1-thread CPU; on 2 threads the serial"
          " CPU, each thread's CPU in jobs, ideal = serial + each job's slowest thread; bound ="
          " 1-thread CPU / ideal")
    print(f"| {'model':<14} | 1-thr CPU | 2-thr serial | jobs, thread 0 / 1 | ideal  | bound |")
    print(f"|{'-' * 16}|-----------|--------------|--------------------|--------|-------|")
    for kind, _, label in MODELS:
        one, two = out[1]["ours"][kind], out[2]["ours"][kind]
        if "train_ideal_ms" not in two:
            continue
        cpu1 = one["setup_cpu_ms"] + one["train_cpu_ms"]
        serial = two["setup_serial_ms"] + two["train_serial_ms"]
        jobs = [two["setup_jobs_ms"][i] + two["train_jobs_ms"][i] for i in (0, 1)]
        ideal = two["setup_ideal_ms"] + two["train_ideal_ms"]
        print(f"| {label:<14} | {cpu1:>9.1f} | {serial:>12.1f} | {jobs[0]:>8.1f} / {jobs[1]:>7.1f} |"
              f" {ideal:>6.1f} | {cpu1 / ideal:>5.2f} |")
    print()


def sweep(a, py):
    """Ratios of whole runs (PyTorch / ours, 1 thread) for square layers d -> d."""
    dims = [int(d) for d in a.sweep.split(",") if d]
    E = a.whole_epochs
    rows = {}
    for d in dims:
        rows[d] = {"ours": ours_whole(a, d, (1,), E)[1], "torch": torch_whole(a, py, d, 1, E, 1)}
    if not dims:
        return rows
    print(f"whole runs of {E} epochs on 1 thread, N = {a.samples}, r = {a.rank}: PyTorch / lora_demo"
          f" (lora_demo ms in brackets)")
    print("| model | " + " | ".join(f"d = {d}" for d in dims) + " |")
    print("|---|" + "---|" * len(dims))
    for kind, tkey, label in MODELS:
        cells = []
        for d in dims:
            o = rows[d]["ours"][kind]["whole_ms"]
            t = rows[d]["torch"][tkey] if rows[d]["torch"] else None
            cells.append(f"{fmt(t / o if t else None, 1)} ({o:.0f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "lora_demo"))
    ap.add_argument("--bench-bin", default=os.path.join(ROOT, "build", "lora_bench"))
    ap.add_argument("--in", dest="inp", type=int, default=1024)
    ap.add_argument("--out", type=int, default=1024)
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3, help="runs of each measurement (median)")
    ap.add_argument("--process-reps", type=int, default=21,
                    help="runs of each whole lora_demo process (median)")
    ap.add_argument("--torch-reps", type=int, default=5,
                    help="runs of the whole PyTorch script (median)")
    ap.add_argument("--torch-python", default=None)
    ap.add_argument("--hidden", type=int, default=1024, help="the network row's width (0: none)")
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench.json"))
    ap.add_argument("--whole-epochs", type=int, default=100, help="epochs of a whole run")
    ap.add_argument("--torch-whole-reps", type=int, default=1,
                    help="PyTorch whole runs per model and thread count (median)")
    ap.add_argument("--sweep", default="256,512,1024,2048",
                    help="widths d for the table of whole-run ratios (\"\": none)")
    ap.add_argument("--only-whole", action="store_true", help="only the whole runs and the sweep")
    a = ap.parse_args()

    shape = ["--in", str(a.inp), "--out", str(a.out), "--samples", str(a.samples)]
    E, T, R = a.epochs, a.threads, a.rank
    res = {"machine": cpu_model(), "shape": {"in": a.inp, "out": a.out, "samples": a.samples,
                                             "rank": R, "epochs": E, "threads": T}}
    print(f"machine: {res['machine']}")
    print(f"shape: {a.inp} -> {a.out}, {a.samples} samples, rank {R}, {E} epochs, {T} thread(s)\n")
    if a.only_whole:
        py = find_torch_python(a.torch_python)
        res["whole"] = whole_runs(a, py)
        res["sweep"] = sweep(a, py)
        os.makedirs(os.path.dirname(a.json), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
        print(f"all numbers: {a.json}")
        return
    tmp = tempfile.mkdtemp(prefix="lora_bench.")

    # 1. the runner: dense + LoRA from scratch
    dense_ms, scratch_ms, rss = [], [], []
    for _ in range(a.reps):
        out = os.path.join(tmp, "run")
        _, peak = run_rss([a.bin, *shape, "--epochs", str(E), "--ranks", str(R), "--threads", str(T),
                           "--output-dir", out, "--quiet"])
        dense_ms.append(summary_ms(out, "dense") / E)
        scratch_ms.append(summary_ms(out, f"lora_r{R}") / E)
        rss.append(peak)
    res["ours"] = {"dense_ms": statistics.median(dense_ms), "scratch_ms": statistics.median(scratch_ms),
                   "peak_rss": max(rss)}

    # 2. + 3. the library bench: setup costs, and the fine-tune path
    def lib(kind):
        vals = []
        for _ in range(a.reps):
            _, text = run([a.bench_bin, kind, *shape, "--epochs", str(E), "--rank", str(R),
                           "--threads", str(T)])
            vals.append(json.loads(text))
        vals.sort(key=lambda v: v["train_ms"])
        return vals[len(vals) // 2]

    libres = {k: lib(k) for k in ("dense", "scratch", "finetune")}
    res["lora_bench"] = libres
    res["isa"] = libres["dense"]["isa"]
    ft_source = "lora_bench (library: LoRA on a frozen random nn.Linear base)"
    ft_ms = libres["finetune"]["train_ms"] / E
    ft_rss = None
    if has_finetune(a.bin):
        vals = []
        for _ in range(a.reps):
            out = os.path.join(tmp, "ft")
            _, peak = run_rss([a.bin, "--experiment", "finetune", *shape, "--epochs", str(E),
                               "--ranks", str(R), "--threads", str(T), "--output-dir", out, "--quiet"])
            vals.append(summary_ms(out, f"lora_r{R}") / E)
            ft_rss = max(ft_rss or 0, peak)
        ft_ms = statistics.median(vals)
        ft_source = "./lora_demo --experiment finetune"
    res["ours"]["finetune_ms"] = ft_ms
    res["ours"]["finetune_source"] = ft_source

    # 4b. the network: dense and LoRA r on every frozen layer
    if a.hidden > 0:
        nd, nl = [], []
        for _ in range(a.reps):
            out = os.path.join(tmp, "net")
            run([a.bin, "--experiment", "finetune", *shape, "--hidden", str(a.hidden),
                 "--activation", "relu", "--epochs", str(E), "--pretrain-epochs", "1",
                 "--test-samples", "64", "--ranks", str(R), "--threads", str(T),
                 "--output-dir", out, "--quiet"])
            nd.append(summary_ms(out, "dense") / E)
            nl.append(summary_ms(out, f"lora_r{R}") / E)
        res["ours"]["net_dense_ms"] = statistics.median(nd)
        res["ours"]["net_lora_ms"] = statistics.median(nl)

    # 4. PyTorch
    py = find_torch_python(a.torch_python)
    torch_res = None
    if py is None:
        print("PyTorch: no interpreter here can import torch; PyTorch rows skipped\n")
    else:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(T), OMP_NUM_THREADS=str(T), MKL_NUM_THREADS=str(T))
        _, text = run([py, os.path.join(HERE, "bench_torch.py"), *shape, "--epochs", str(E),
                       "--rank", str(R), "--threads", str(T), "--reps", str(a.reps),
                       "--hidden", str(a.hidden)], env=env)
        torch_res = json.loads(text)
        b = torch_res["blas"]
        print(f"PyTorch {b['torch_version']} ({py}), {b['torch_threads']} thread(s): "
              f"{'uses OpenBLAS' if b['uses_openblas'] else 'does NOT use OpenBLAS'} "
              f"({', '.join(os.path.basename(p) for p in b['loaded_blas_libraries']) or 'no BLAS library seen'}; "
              f"MKL {'available' if b['mkl_available'] else 'not available'})\n")
    res["torch"] = torch_res

    # 5. whole processes
    # as asked: the default command, writing results/ (in a scratch working
    # directory on the same file system as the repository; after the first
    # run each output replaces an existing file, as when a user reruns it)
    cwd = os.getcwd()
    work = os.path.join(ROOT, "build", "bench-cwd")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    try:
        ours_wall = [run_rss([a.bin, "--epochs", "100", "--seed", "42"])[0] for _ in range(a.process_reps)]
    finally:
        os.chdir(cwd)
    res["process"] = {"lora_demo_ms": statistics.median(ours_wall) * 1e3,
                      "lora_demo_min_ms": min(ours_wall) * 1e3}
    # the same with the output on tmpfs, and the floor: starting a process
    # at all (/bin/true) and starting this one (--help)
    if os.path.isdir("/dev/shm"):
        shm = tempfile.mkdtemp(prefix="lora_bench.", dir="/dev/shm")
        w = [run_rss([a.bin, "--epochs", "100", "--seed", "42", "--output-dir", shm])[0]
             for _ in range(a.process_reps)]
        res["process"]["lora_demo_tmpfs_ms"] = statistics.median(w) * 1e3
        res["process"]["lora_demo_tmpfs_min_ms"] = min(w) * 1e3
        shutil.rmtree(shm, ignore_errors=True)
    w = [run_rss([a.bin, "--help"])[0] for _ in range(a.process_reps)]
    res["process"]["lora_demo_help_ms"] = statistics.median(w) * 1e3
    if os.path.exists("/bin/true"):
        w = [run_rss(["/bin/true"])[0] for _ in range(a.process_reps)]
        res["process"]["true_ms"] = statistics.median(w) * 1e3
    if py is not None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        ref = [run_rss([py, os.path.join(HERE, "notebook_reference.py")], env=env)[0]
               for _ in range(a.torch_reps)]
        res["process"]["torch_ms"] = statistics.median(ref) * 1e3
        res["process"]["torch_min_ms"] = min(ref) * 1e3

    # memory budget: the arrays a run must hold. Models train one after the
    # other, so the largest model's share counts, plus the data.
    f = 4
    N, I, O, NT = a.samples, a.inp, a.out, 20
    data = (N * I + N * O + NT * I + NT * O) * f
    dense_arr = 4 * (O * I + O) * f + N * O * f               # params, grads, m, v; y_hat
    lora_arr = 4 * (R * I + O * R) * f + N * O * f + N * R * f  # ... ; y_hat, h
    budget = data + max(dense_arr, lora_arr)
    res["memory"] = {"budget": budget, "peak_rss": res["ours"]["peak_rss"]}
    if ft_rss is not None:
        # The fine-tune run's peak is its pretraining, when these live at once
        # (src/experiment/experiment.c, run_finetune): task-1, task-2 and held-out data
        # (finetune holds out 1000 samples by default); the teacher
        # (W_base, dW, W_base + dW, b); the pretrained dense model's block
        # (params, grads, m, v); its closed-form trainer (X^T X, Y^T X, W G);
        # and the held-out prediction buffers (unmerged, merged, h).
        NTF = 1000
        ft_data = (2 * N * (I + O) + NTF * (I + O)) * f
        teacher = (3 * O * I + O) * f
        pretrain = 4 * (O * I + O) * f + (I * I + 2 * O * I) * f
        held_out = (2 * NTF * O + NTF * R) * f
        ft_budget = ft_data + teacher + pretrain + held_out
        res["memory"]["finetune_budget"] = ft_budget
        res["memory"]["finetune_peak_rss"] = ft_rss

    # the table
    tr = torch_res
    rows = []

    def ratio(t, o):
        return None if t is None or o is None or o <= 0 else t / o

    t_dense = tr["dense"]["ms_per_epoch"] if tr else None
    t_nb = tr["notebook"]["ms_per_epoch"] if tr else None
    t_ft = tr["finetune"]["ms_per_epoch"] if tr else None
    o = res["ours"]
    rows.append(("dense nn.Linear", o["dense_ms"], t_dense, ratio(t_dense, o["dense_ms"]), 1.0))
    rows.append((f"LoRA r={R} scratch vs notebook LoRALayer", o["scratch_ms"], t_nb,
                 ratio(t_nb, o["scratch_ms"]), 10.0))
    rows.append((f"LoRA r={R} fine-tune vs frozen Linear + B(Ax)", o["finetune_ms"], t_ft,
                 ratio(t_ft, o["finetune_ms"]), 10.0))
    if "net_dense_ms" in o:
        t_nd = tr["net_dense"]["ms_per_epoch"] if tr and "net_dense" in tr else None
        t_nl = tr["net_lora"]["ms_per_epoch"] if tr and "net_lora" in tr else None
        rows.append((f"network {a.inp}->{a.hidden}->{a.out} relu, dense", o["net_dense_ms"], t_nd,
                     ratio(t_nd, o["net_dense_ms"]), 1.0))
        rows.append((f"network LoRA r={R} on every frozen layer", o["net_lora_ms"], t_nl,
                     ratio(t_nl, o["net_lora_ms"]), 2.0))
    p = res["process"]
    rows.append(("default experiment, whole process (ms)", p["lora_demo_ms"], p.get("torch_ms"),
                 ratio(p.get("torch_ms"), p["lora_demo_ms"]), 300.0))
    if "lora_demo_tmpfs_ms" in p:
        rows.append(("  the same, output on tmpfs", p["lora_demo_tmpfs_ms"],
                     p.get("torch_ms"), ratio(p.get("torch_ms"), p["lora_demo_tmpfs_ms"]), 300.0))
    res["rows"] = [dict(zip(("what", "ours", "torch", "ratio", "target"), r)) for r in rows]

    print(f"| {'measurement':<48} | {'lora_demo':>10} | {'PyTorch':>10} | {'ratio':>8} | target | met |")
    print(f"|{'-' * 50}|{'-' * 12}|{'-' * 12}|{'-' * 10}|--------|-----|")
    for what, ours, torch_v, r, target in rows:
        met = "-" if r is None else ("yes" if r >= target else "NO")
        print(f"| {what:<48} | {fmt(ours, 2):>10} | {fmt(torch_v, 2):>10} | {fmt(r, 2):>8} | >= {target:<4g}|"
              f" {met:<3} |")
    print("(ms per epoch unless marked; ratio = PyTorch / lora_demo)")
    print(f"whole processes, median of {a.process_reps} (fastest): default command "
          f"{p['lora_demo_ms']:.2f} ({p['lora_demo_min_ms']:.2f}) ms"
          + (f", output on tmpfs {p['lora_demo_tmpfs_ms']:.2f} ({p['lora_demo_tmpfs_min_ms']:.2f}) ms"
             if "lora_demo_tmpfs_ms" in p else "")
          + (f"; PyTorch script, median of {a.torch_reps}: {p['torch_ms']:.1f} ({p['torch_min_ms']:.1f}) ms"
             if "torch_ms" in p else ""))
    print(f"process start alone: lora_demo --help {p['lora_demo_help_ms']:.2f} ms"
          + (f", /bin/true {p['true_ms']:.2f} ms" if "true_ms" in p else "") + "\n")

    d, s, ft = libres["dense"], libres["scratch"], libres["finetune"]
    nominal = 4.0 * N * I * O  # forward + weight gradient of nn.Linear, flop per epoch
    executed = 2.0 * O * I * I  # the closed form's W G per epoch
    print(f"dense path: {d['method']} ({res['isa']}); one-time setup {d['setup_ms']:.1f} ms "
          f"(X^T X, Y^T X), not in ms/epoch; with it spread over {E} epochs: "
          f"{o['dense_ms'] + d['setup_ms'] / E:.1f} ms/epoch")
    print(f"dense GFLOP/s: {nominal / (o['dense_ms'] * 1e6):.1f} nn.Linear-equivalent "
          f"(4*N*I*O per epoch / time), {executed / (o['dense_ms'] * 1e6):.1f} executed (2*O*I*I)"
          + (f"; PyTorch {nominal / (t_dense * 1e6):.1f}" if t_dense else ""))
    print(f"fine-tune: {ft_source}; one-time setup {ft['setup_ms']:.1f} ms ({ft['method']}), "
          f"with it spread over {E} epochs: {o['finetune_ms'] + ft['setup_ms'] / E:.1f} ms/epoch")
    print(f"LoRA scratch (library): {s['epoch_ms_mean']:.2f} ms/epoch mean, {s['epoch_ms_min']:.2f} min")
    m = res["memory"]
    print(f"peak RSS {m['peak_rss'] / 2**20:.1f} MiB; arrays the run must hold {m['budget'] / 2**20:.1f} MiB "
          f"(data + params, grads, Adam m, v + y_hat [+ h]); ratio {m['peak_rss'] / m['budget']:.2f} "
          f"(target <= 1.5)")
    if "finetune_budget" in m:
        print(f"fine-tune run: peak RSS {m['finetune_peak_rss'] / 2**20:.1f} MiB, arrays "
              f"{m['finetune_budget'] / 2**20:.1f} MiB (at its peak, pretraining), ratio "
              f"{m['finetune_peak_rss'] / m['finetune_budget']:.2f}")
    gemm_rows(a, py, res)
    print()
    res["whole"] = whole_runs(a, py)
    res["sweep"] = sweep(a, py)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)
    print(f"all numbers: {a.json}")
    shutil.rmtree(tmp, ignore_errors=True)


def gemm_rows(a, py, res):
    """The GEMM section: build/gemm_bench (the core's peak, memory bandwidth,
    matmul GFLOP/s) and OpenBLAS's sgemm through torch.mm on the same
    products, in this invocation (scripts/bench_gemm_torch.py); with more
    than one thread, also gemm_bench on one thread on the wall clock, for
    the speed-up (which means something only when the cores are free)."""
    binary = os.path.join(ROOT, "build", "gemm_bench")
    T = a.threads
    _, text = run([binary, "--json", "--threads", str(T), "--reps", str(a.reps)])
    g = json.loads(text)
    one = (json.loads(run([binary, "--json", "--threads", "1", "--wall", "--reps", str(a.reps)])[1])
           if T > 1 else None)  # on the wall clock too, to compare with T threads
    blas = None
    if py is not None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(T), OMP_NUM_THREADS=str(T), MKL_NUM_THREADS=str(T))
        cases = json.dumps([{k: c[k] for k in ("op", "M", "N", "K")} for c in g["gemm"]])
        _, text = run([py, os.path.join(HERE, "bench_gemm_torch.py"), "--threads", str(T),
                       "--reps", str(a.reps), cases], env=env)
        blas = json.loads(text)
        print(f"\nGEMM: torch.mm runs {', '.join(os.path.basename(l) for l in blas['blas_libraries']) or '?'}"
              + (f" (OpenBLAS core {blas['openblas_core']})" if blas["openblas_core"] else
                 " (not OpenBLAS: apt-get install libopenblas0-pthread)"))
    res["gemm"] = {"ours": g, "ours_1thread": one, "torch": blas}
    pk = g["peak"]
    print(f"\ncore peak, 1 thread (GFLOP/s, own loop): " +
          ", ".join(f"{k} {v:.1f}" for k, v in pk.items() if v >= 0))
    print(f"memory, {T} thread(s): copy {g['copy_gbs']:.1f} GB/s, triad {g['triad_gbs']:.1f} GB/s")
    ref = g["peak_ref"] * T
    print(f"matmul ({g['isa']} path, {T} thread(s)) against {T} x the {g['isa']} mul+add peak "
          f"({ref:.1f}) and OpenBLAS sgemm (torch.mm); fastest of {a.reps}, {g['clock']} time")
    print(f"| {'op':<4} | {'M x N x K':>18} | GFLOP/s | % peak | OpenBLAS | ratio |"
          + (" x 1 thread |" if one else ""))
    print(f"|------|{'-' * 20}|---------|--------|----------|-------|" + ("------------|" if one else ""))
    for i, c in enumerate(g["gemm"]):
        t = blas["gemm"][i]["gflops"] if blas else None
        line = (f"| {c['op']:<4} | {c['M']:>5} x {c['N']:>4} x {c['K']:>4} | {c['gflops']:>7.1f} | "
                f"{100 * c['gflops'] / ref:>5.0f}% | {fmt(t):>8} | {fmt(t and c['gflops'] / t, 2):>5} |")
        if one:
            line += f" {c['gflops'] / one['gemm'][i]['gflops']:>10.2f} |"
        print(line)
    print("(gram: G = X^T X, I x I x N; counted as the whole product, 2 I I N, though it computes half)")


if __name__ == "__main__":
    main()
