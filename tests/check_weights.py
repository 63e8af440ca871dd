"""check_weights.py - the standard-library safetensors reader of docs/files.md
against the C side.

usage: python3 check_weights.py DOC.md DIR [RUN]   (DOC.md: docs/files.md)

Takes the first ```python block of DOC.md that defines load_safetensors,
runs it, example included, in DIR, and with that function alone checks the
files of DIR/out/a (or DIR/out/RUN), a finetune run with --save-data
--save-weights (the example reads out/a):
  * each model's final weights, applied to test.csv in Python (doubles),
    give the held-out MSE that summary.json reports (merged, for LoRA);
  * its initial weights on train.csv give the first loss of losses.csv;
  * the adapters and base.safetensors hold the numbers of the weights files,
    and adapter_config.json and the metadata agree on r, alpha and scale;
  * with --init pissa: each adapter's base.safetensors is the residual its
    weights files carry, residual + s B0 A0 is base.safetensors again within
    float rounding, and adapter_config.json says "pissa";
  * a --hidden --init pissa run: only the last, layer by layer
    (check_network_pissa).
Prints one line per failure and ends with "python: N passed, M failed".
"""
import contextlib
import csv
import io
import json
import math
import os
import re
import struct
import sys

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL python:", what, file=sys.stderr)


def f32(x):
    """x rounded to float32, as torch rounds a Python float it multiplies by."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def close(a, b, rtol=1e-5, atol=1e-7):
    return abs(a - b) <= atol + rtol * abs(b)


readme, work = os.path.abspath(sys.argv[1]), sys.argv[2]
blocks = re.findall(r"```python\n(.*?)```", open(readme).read(), re.S)
code = next(b for b in blocks if "def load_safetensors" in b)
os.chdir(work)
run_dir = os.path.join("out", sys.argv[3] if len(sys.argv) > 3 else "a")
env = {}
with contextlib.redirect_stdout(io.StringIO()):  # the example prints
    exec(compile(code, readme, "exec"), env)  # the README's code, example included
load = env["load_safetensors"]


def rows(name):
    with open(os.path.join(run_dir, name)) as f:
        r = csv.reader(f)
        header = next(r)
        data = [[float(v) for v in row] for row in r]
    nx = sum(1 for h in header if h.startswith("x"))
    return [row[:nx] for row in data], [row[nx:] for row in data]


def matrix(tensors, name):
    shape, values = tensors[name]
    if len(shape) == 1:
        return values
    rows_, cols = shape
    return [values[i * cols:(i + 1) * cols] for i in range(rows_)]


def apply(w, b, x):  # w (out, in), b (out) or None
    return [sum(wi * xi for wi, xi in zip(row, x)) + (b[o] if b else 0.0) for o, row in enumerate(w)]


def predict(tensors, meta, x):
    if "weight" in tensors:
        return apply(matrix(tensors, "weight"), matrix(tensors, "bias"), x)
    a, bm = matrix(tensors, "lora_A.weight"), matrix(tensors, "lora_B.weight")
    s = float(meta["scale"])
    h = apply(a, None, x)
    y = apply(bm, None, h)
    if "base_layer.weight" in tensors:
        base = apply(matrix(tensors, "base_layer.weight"), matrix(tensors, "base_layer.bias"), x)
    else:
        base = [0.0] * len(y)
    return [bo + s * yo for bo, yo in zip(base, y)]


def mse(tensors, meta, xs, ys):
    total = n = 0
    for x, y in zip(xs, ys):
        for p, t in zip(predict(tensors, meta, x), y):
            total += (p - t) ** 2
            n += 1
    return total / n


summary = json.load(open(os.path.join(run_dir, "summary.json")))
with open(os.path.join(run_dir, "losses.csv")) as f:
    r = csv.reader(f)
    names = next(r)[1:]
    first = dict(zip(names, (float(v) for v in next(r)[1:])))
base, base_meta = load(os.path.join(run_dir, "base.safetensors"))


def check_network_pissa():
    """A --hidden --init pissa run: every layer of each adapter's
    base.safetensors is a residual (not the base), and residual + s B0 A0 is
    that layer's base within float rounding; the biases are the base's."""
    layers = sorted(int(k.split(".")[1]) for k in base if k.endswith(".weight"))
    check(len(layers) >= 2 and layers == list(range(len(layers))), "network base: its layers")
    for m in summary["models"]:
        if m["rank"] == 0:
            continue
        name = m["name"]
        adir = os.path.join(run_dir, "adapters", name)
        res, _ = load(os.path.join(adir, "base.safetensors"))
        init, imeta = load(os.path.join(run_dir, "weights", name + ".init.safetensors"))
        s = float(imeta["scale"])
        check(sorted(res) == sorted(base), "%s: the residual base has every layer" % name)
        for l in layers:
            p = "layers.%d." % l
            w0, wr = matrix(base, p + "weight"), matrix(res, p + "weight")
            bm, a = matrix(init, p + "lora_B.weight"), matrix(init, p + "lora_A.weight")
            worst = max(abs(wr[o][i] + s * sum(bm[o][k] * a[k][i] for k in range(len(a)))
                            - w0[o][i]) for o in range(len(w0)) for i in range(len(w0[0])))
            check(worst <= 1e-6 * max(abs(v) for v in base[p + "weight"][1]),
                  "%s layer %d: PiSSA residual + s B A is the base (worst %.3g)" % (name, l, worst))
            check(res[p + "weight"] != base[p + "weight"]
                  and res[p + "bias"] == base[p + "bias"],
                  "%s layer %d: the residual is not the base, its bias is" % (name, l))
        cfg = json.load(open(os.path.join(adir, "adapter_config.json")))
        check(cfg.get("init_lora_weights") == "pissa", name + ": adapter_config.json says pissa")
    print("python: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if "layers.0.weight" in base and summary["config"]["init"] == "pissa":
    check_network_pissa()
xtr, ytr = rows("train.csv")
xte, yte = rows("test.csv")
check(sorted(base) == ["layer.bias", "layer.weight"] and base_meta["format"] == "pt",
      "base.safetensors: names and format")
check(summary["config"]["experiment"] == "finetune", "the run is a finetune run")

for m in summary["models"]:
    name = m["name"]
    init, imeta = load(os.path.join(run_dir, "weights", name + ".init.safetensors"))
    final, fmeta = load(os.path.join(run_dir, "weights", name + ".final.safetensors"))
    check(fmeta["format"] == "pt" and fmeta["model"] == name and fmeta["r"] == str(m["rank"]),
          name + ": metadata")
    got = mse(final, fmeta, xte, yte)
    check(close(got, m["test_loss"]), "%s: final weights give %.9g on test.csv, summary.json %.9g"
          % (name, got, m["test_loss"]))
    got = mse(init, imeta, xtr, ytr)
    check(close(got, first[name]), "%s: initial weights give %.9g on train.csv, losses.csv %.9g"
          % (name, got, first[name]))
    if m["rank"] == 0:
        check(init["weight"] == base["layer.weight"] and init["bias"] == base["layer.bias"],
              "dense starts from base.safetensors")
        continue
    adir = os.path.join(run_dir, "adapters", name)
    pissa = summary["config"]["init"] == "pissa"
    if pissa:
        res, _ = load(os.path.join(adir, "base.safetensors"))
        s = float(imeta["scale"])
        bm, a = matrix(init, "lora_B.weight"), matrix(init, "lora_A.weight")
        w0, wr = matrix(base, "layer.weight"), matrix(res, "layer.weight")
        worst = max(abs(wr[o][i] + s * sum(bm[o][k] * a[k][i] for k in range(len(a))) - w0[o][i])
                    for o in range(len(w0)) for i in range(len(w0[0])))
        check(worst <= 1e-6 * max(abs(v) for v in base["layer.weight"][1]),
              "%s: PiSSA residual + s B A is the base (worst %.3g)" % (name, worst))
        base_of_model = res
    else:
        check(all(v == 0.0 for v in init["lora_B.weight"][1]), name + ": B starts at zero")
        base_of_model = base
    check(final["base_layer.weight"] == base_of_model["layer.weight"]
          and final["base_layer.bias"] == base["layer.bias"], name + ": base_layer is the base")
    ad, ameta = load(os.path.join(adir, "adapter_model.safetensors"))
    check(ad["base_model.model.layer.lora_A.weight"] == final["lora_A.weight"]
          and ad["base_model.model.layer.lora_B.weight"] == final["lora_B.weight"]
          and len(ad) == 2 and ameta == {"format": "pt"}, name + ": adapter tensors")
    cfg = json.load(open(os.path.join(adir, "adapter_config.json")))
    r = cfg["r"]
    # PEFT's scale, as LoraLayer.update_layer computes it (use_rslora is
    # written only when true: False is PEFT's default), rounded to float32
    # as torch does when it multiplies: the run's scale, bit for bit.
    scale = cfg["lora_alpha"] / (math.sqrt(r) if cfg.get("use_rslora", False) else r)
    check(r == m["rank"] and cfg["peft_type"] == "LORA" and cfg["target_modules"] == ["layer"]
          and f32(scale) == f32(float(fmeta["scale"]))
          and cfg.get("init_lora_weights", True) == ("pissa" if pissa else True),
          name + ": adapter_config.json")

print("python: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
