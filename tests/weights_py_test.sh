#!/bin/sh
# weights_py_test.sh - the standard-library Python reader of docs/files.md, for
# --save-weights files, run on a finetune run's files and checked against
# the C side (tests/check_weights.py). make test does not need Python: without
# python3 this says so and counts nothing.
#
# usage: sh tests/weights_py_test.sh ./lora_demo
# Ends with "python: N passed, M failed".
set -u
BIN=${1:-./lora_demo}
TMP=tests/tmp/weights_py
if ! command -v python3 >/dev/null 2>&1; then
    echo "python: python3 not found, the Python reader of docs/files.md was not checked (skipped)"
    exit 0
fi
rm -rf "$TMP"
mkdir -p "$TMP/out"
# the example in docs/files.md reads out/a/weights/lora_r2.final.safetensors
if ! "$BIN" --quiet --experiment finetune --epochs 40 --pretrain-epochs 60 --samples 80 \
        --test-samples 50 --save-data --save-weights --output-dir "$TMP/out/a"; then
    echo "FAIL python: the run failed" >&2
    echo "python: 0 passed, 1 failed"
    exit 1
fi
python3 tests/check_weights.py docs/files.md "$TMP" || rc=1
# --init pissa: the residual bases, and the adapters' init_lora_weights
if ! "$BIN" --quiet --experiment finetune --init pissa --alpha 4 --epochs 40 --pretrain-epochs 60 \
        --samples 80 --test-samples 50 --save-data --save-weights --output-dir "$TMP/out/pissa"; then
    echo "FAIL python: the --init pissa run failed" >&2
    echo "python: 0 passed, 1 failed"
    exit 1
fi
python3 tests/check_weights.py docs/files.md "$TMP" pissa || rc=1
# --hidden --init pissa: every layer's residual in each adapter's base.safetensors
if ! "$BIN" --quiet --experiment finetune --hidden 6 --init pissa --alpha 4 --epochs 5 \
        --pretrain-epochs 60 --samples 80 --test-samples 50 --save-weights \
        --output-dir "$TMP/out/pissa_net"; then
    echo "FAIL python: the --hidden --init pissa run failed" >&2
    echo "python: 0 passed, 1 failed"
    exit 1
fi
python3 tests/check_weights.py docs/files.md "$TMP" pissa_net || rc=1
exit ${rc:-0}
