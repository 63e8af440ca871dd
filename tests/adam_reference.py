#!/usr/bin/env python3
"""Known answers for tests/test_optim.c's Adam test, from the update rule alone.

This is torch.optim.Adam's documented algorithm (no weight decay, no amsgrad)
written out in plain Python doubles, independent of lora_demo's C code and of
PyTorch itself:

    m_t = b1 m_{t-1} + (1 - b1) g_t
    v_t = b2 v_{t-1} + (1 - b2) g_t^2
    p_t = p_{t-1} - lr / (1 - b1^t) * m_t / (sqrt(v_t) / sqrt(1 - b2^t) + eps)

Run it and paste its output into test_optim.c if the case ever changes.
"""
import math

lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
p = [0.5, -1.0, 2.0, 0.0, 3.0]
grads = [
    [0.1, -0.2, 3.0, 1e-9, -1e3],
    [0.05, 0.4, -3.0, 0.0, 1e3],
    [-0.3, 0.1, 2.5, 1e-6, 1e-6],
]
m = [0.0] * len(p)
v = [0.0] * len(p)
for t, g in enumerate(grads, start=1):
    for i in range(len(p)):
        m[i] = b1 * m[i] + (1 - b1) * g[i]
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
        denom = math.sqrt(v[i]) / math.sqrt(1 - b2 ** t) + eps
        p[i] -= lr / (1 - b1 ** t) * m[i] / denom
    print("step %d: {%s}" % (t, ", ".join("%.9g" % x for x in p)))
