#!/usr/bin/env python3
"""PEFT's LoRA scale for many (alpha, r): the fixture tests/fixtures/scale_pairs.txt
that tests/test_scale.c checks config_scale() against.

PEFT computes the scale from adapter_config.json in Python floats (doubles),
in LoraLayer.update_layer (huggingface/peft, src/peft/tuners/lora/layer.py):

    self.scaling[adapter_name] = lora_alpha / math.sqrt(r)   # use_rslora
    self.scaling[adapter_name] = lora_alpha / r              # otherwise

and the forward pass multiplies a float32 tensor by it, `lora_B(lora_A(x)) *
scaling`, where torch rounds the Python float to float32 once. So the scale
a run must train with is float32(float(alpha) / r), or / math.sqrt(r), with
alpha read from the decimal the user typed. This script computes that with
the standard library alone (struct rounds a double to float32 as a C cast
does), independently of lora_demo's C code. Where PyTorch is installed it
also checks every value against torch's own multiplication.

    python3 tests/scale_reference.py > tests/fixtures/scale_pairs.txt

Output: a comment line naming this script, then one line per case,
"ALPHA R RSLORA BITS": ALPHA the decimal as typed after --alpha, R the rank,
RSLORA 0 or 1, BITS the float32 scale as 8 hex digits.
"""
import math
import random
import struct


def f32_bits(x):
    """The bits of x rounded to float32 (round to nearest, ties to even)."""
    return struct.unpack("<I", struct.pack("<f", x))[0]


def peft_scale(alpha_text, r, rslora):
    alpha = float(alpha_text)  # correctly rounded, as strtod
    return alpha / math.sqrt(r) if rslora else alpha / r


# Alphas as a user types them: the notebook's and PEFT's usual values, some
# that are not exact in binary, and seeded random decimals of 1 to 9 digits.
ALPHAS = ["0.9", "0.1", "0.3", "0.7", "1", "2", "3", "5", "7", "8", "16", "32", "64",
          "1.5", "2.5", "12.5", "0.001", "1e-3", "3.14159", "2.718281828", "100",
          "1e6", "1e-7", "6.02214076e23", "0.333333333333333333"]
rng = random.Random(11)
for _ in range(25):
    digits = rng.randint(1, 9)
    ALPHAS.append("%.*g" % (digits, rng.uniform(0.001, 1000.0)))
RANKS = list(range(1, 33)) + [48, 64, 100, 127, 128, 255, 256, 1000, 1024]


def main():
    cases = [(a, r, s) for a in ALPHAS for r in RANKS for s in (0, 1)]
    try:
        import torch  # optional: the multiplication PEFT's forward does
    except ImportError:
        torch = None
    if torch is not None:
        one = torch.ones(1, dtype=torch.float32)
        for a, r, s in cases:
            got = (one * peft_scale(a, r, s)).item()
            assert f32_bits(got) == f32_bits(peft_scale(a, r, s)), (a, r, s)
    print("# scale_pairs v1: float32(alpha / r) or float32(alpha / sqrt(r)) in double, as PEFT; "
          "regenerate with python3 tests/scale_reference.py > tests/fixtures/scale_pairs.txt")
    for a, r, s in cases:
        print("%s %d %d %08x" % (a, r, s, f32_bits(peft_scale(a, r, s))))


if __name__ == "__main__":
    main()
