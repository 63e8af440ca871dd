#!/usr/bin/env python3
"""check_run_torch.py - whole lora_demo runs retrained in PyTorch from their files.

The fixtures (scripts/torch_reference.py, tests/test_parity.c) start the C
code from PyTorch's numbers. This goes the other way: lora_demo runs with
--save-data --save-weights, and PyTorch retrains every LoRA model from the
files the run wrote, its training data (train.csv), its initial weights
(weights/<model>.init.safetensors, which on a frozen base hold the base and
DoRA's magnitude too) and its settings (summary.json), with the modules of
torch_reference.py (PEFT's formulas) and Adam (PEFT's LoRA+ groups). Every
epoch's loss must match losses.csv and every final parameter
weights/<model>.final.safetensors, at the parity tests' tolerances.

Runs: --hidden networks with the LoRA variants (issue 14 on issue 12):
DoRA, LoRA+ and both, on a frozen base, and LoRA+ from scratch (where each
layer's bias is a 1-d tensor and so learns at ratio * lr, PEFT's rule).
Full batch only: the mini-batch order and LoRA dropout's masks come from
lora_demo's own streams and are not written to any file, so a run with
--batch-size or --lora-dropout cannot be replayed here; the fixtures cover
both (net_base_dropout_*, net_dropout_*, net_*_b4/b5).

Needs PyTorch; not part of `make test`.

    usage: python3 scripts/check_run_torch.py [LORA_DEMO]      (default ./lora_demo)

Prints one line per model and ends with "check_run_torch: N passed, M failed";
exits 1 if any failed.
"""

import csv
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:  # re-run under Debian's Python, which may have it (not when already re-run)
    if os.environ.get("LD_TORCH_REEXEC") != "1" and os.path.exists("/usr/bin/python3"):
        os.execve("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:],
                  dict(os.environ, LD_TORCH_REEXEC="1"))
    sys.exit("check_run_torch.py: cannot import torch; install PyTorch with: "
             "apt-get install python3-torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402  (torch imports, so it does not re-run anything)

# tests/test_parity.c's tolerances: |c - t| <= atol + rtol |t|
LOSS_ATOL, LOSS_RTOL = 1e-6, 1e-5
PARAM_ATOL, PARAM_RTOL = 1e-5, 1e-4

RUNS = [
    ("dora_tanh", ["--experiment", "finetune", "--hidden", "6,5", "--activation", "tanh",
                   "--dora", "--ranks", "1,2", "--epochs", "40", "--pretrain-epochs", "50"]),
    ("loraplus_gelu", ["--experiment", "finetune", "--hidden", "7", "--activation", "gelu",
                       "--loraplus-ratio", "16", "--ranks", "2,3", "--epochs", "40",
                       "--lr", "0.005", "--pretrain-epochs", "50"]),
    ("dora_loraplus_relu", ["--experiment", "finetune", "--hidden", "8,6",
                            "--activation", "relu", "--dora", "--loraplus-ratio", "16",
                            "--ranks", "2", "--epochs", "40", "--lr", "0.005",
                            "--pretrain-epochs", "50"]),
    ("scratch_loraplus_tanh", ["--hidden", "8", "--activation", "tanh", "--loraplus-ratio", "16",
                               "--ranks", "1,3", "--epochs", "40", "--lr", "0.005"]),
]
COMMON = ["--quiet", "--samples", "60", "--test-samples", "20", "--save-data", "--save-weights"]


def load_safetensors(path):
    """An F32 safetensors file as ({name: tensor}, metadata)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", (path, name, t["dtype"])
        b, e = t["data_offsets"]
        vals = struct.unpack("<%df" % ((e - b) // 4), data[b:e])
        out[name] = torch.tensor(vals, dtype=torch.float32).reshape(t["shape"])
    return out, meta


def read_data(path, n_in):
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    t = torch.tensor([[float(v) for v in r] for r in rows], dtype=torch.float32)
    return t[:, :n_in], t[:, n_in:]


def worst(got, want, atol, rtol):
    """(ok, worst |got - want|, its allowance)."""
    d = (got.double() - want.double()).abs()
    allow = atol + rtol * want.double().abs()
    k = int(torch.argmax(d - allow))
    return bool((d <= allow).all()), float(d.flatten()[k]), float(allow.flatten()[k])


def retrain(run_dir, model_name, cfg):
    """Retrain model_name of the run in run_dir; returns a list of failures."""
    weights = os.path.join(run_dir, "weights", model_name)
    init, meta = load_safetensors(weights + ".init.safetensors")
    final, _ = load_safetensors(weights + ".final.safetensors")
    sizes = [cfg["in"]] + list(cfg["hidden"]) + [cfg["out"]]
    x, y = read_data(os.path.join(run_dir, "train.csv"), cfg["in"])
    rank, scale = int(meta["r"]), float(meta["scale"])
    with_base = cfg["experiment"] == "finetune"
    model = ref.Net([ref.NetLoRALayer(i, o, rank, scale, with_base, 0.0, cfg["dora"])
                     for i, o in zip(sizes[:-1], sizes[1:])], cfg["activation"])
    missing, unexpected = model.load_state_dict(init, strict=True)
    assert not missing and not unexpected
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    ratio = cfg["loraplus_ratio"]
    if ratio == 1:
        opt = torch.optim.Adam([p for _, p in trainable], lr=cfg["lr"], foreach=False)
    else:
        opt = ref.loraplus_adam(trainable, cfg["lr"], float(ratio))
    loss_fn = torch.nn.MSELoss()
    losses = []
    for _ in range(cfg["epochs"]):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with open(os.path.join(run_dir, "losses.csv")) as f:
        rows = list(csv.DictReader(f))
    want = torch.tensor([float(r[model_name]) for r in rows], dtype=torch.float64)
    fails = []
    ok, d, a = worst(torch.tensor(losses, dtype=torch.float64), want, LOSS_ATOL, LOSS_RTOL)
    if not ok:
        fails.append("loss per epoch: worst %.3g > %.3g" % (d, a))
    params = dict(model.named_parameters())
    for name, t in final.items():
        ok, d, a = worst(params[name].detach(), t, PARAM_ATOL, PARAM_RTOL)
        if not ok:
            fails.append("final %s: worst %.3g > %.3g" % (name, d, a))
    loss_err = float((torch.tensor(losses, dtype=torch.float64) - want).abs().max())
    param_err = max(float((params[n].detach() - t).abs().max()) for n, t in final.items())
    return fails, loss_err, param_err


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "./lora_demo"
    torch.set_num_threads(1)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="lora_demo_torch_") as tmp:
        for label, args in RUNS:
            run_dir = os.path.join(tmp, label)
            cmd = [binary] + args + COMMON + ["--output-dir", run_dir]
            if subprocess.run(cmd).returncode != 0:
                print("FAIL %s: %s exited non-zero" % (label, " ".join(cmd)))
                failed += 1
                continue
            with open(os.path.join(run_dir, "summary.json")) as f:
                cfg = json.load(f)["config"]
            for r in cfg["ranks"]:
                name = "lora_r%d" % r
                fails, loss_err, param_err = retrain(run_dir, name, cfg)
                status = "ok  " if not fails else "FAIL"
                print("%s %-22s %-8s max |loss diff| %.3g  max |param diff| %.3g"
                      % (status, label, name, loss_err, param_err))
                for msg in fails:
                    print("     " + msg)
                passed += not fails
                failed += bool(fails)
    print("check_run_torch: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
