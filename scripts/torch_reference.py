#!/usr/bin/env python3
"""torch_reference.py - PyTorch golden fixtures for lora_demo's parity tests.

Builds the same tiny models as lora_demo in PyTorch (nn.Linear, a LoRA module
with lora_A.weight (R, I) and lora_B.weight (O, R), torch.optim.Adam,
nn.MSELoss), trains them, and writes what PyTorch computed to small binary
files in tests/fixtures/. tests/test_parity.c reruns the same training with
lora_demo's library and compares. The fixtures are committed, so `make test`
never needs torch; `make fixtures` runs this script to regenerate them.

    usage: python3 scripts/torch_reference.py [OUTDIR]     (default tests/fixtures)

Dimension key: N samples, B batch size, I in, O out, R rank, E epochs,
T Adam steps, P elements of the Adam-only tensor.

Fixture format, version 1 (all integers u32 and all floats little-endian):

    offset  type     field
    0       4 bytes  magic "LDFX"
    4       u32      version (1, or 2 for a file with float64 tensors)
    8       u32      kind: 0 dense, 1 LoRA from scratch, 2 LoRA on a frozen
                     base, 3 Adam alone on one tensor, 4 SVD of a matrix,
                     5 SVD of a low-rank product s B A
    12      u32      in       I (kind 3: P, the tensor's length; kind 4: n,
                              the matrix's columns)
    16      u32      out      O (kind 3: 0; kind 4: m, its rows)
    20      u32      rank     R (0 unless LoRA; kind 4: the matrix's rank as
                              constructed; kind 5: R)
    24      u32      samples  N (kinds 3-5: 0)
    28      u32      batch    B (== N for full-batch training; kinds 3-5: 0)
    32      u32      epochs   E (kind 3: T, the number of Adam steps; 4, 5: 0)
    36      u32      n_tensors
    40      f64      lr       (kinds 4, 5: 0, and so are beta1 ... alpha)
    48      f64      beta1
    56      f64      beta2
    64      f64      eps
    72      f64      alpha    (0 unless LoRA)
    80      f64      scale    (0 unless LoRA; alpha/R, or alpha/sqrt(R) for
                              rsLoRA; kind 5: s)
    88      n_tensors tensors, each:
              u32 name_len, name (name_len ASCII bytes, no NUL),
              u32 ndim (1 or 2), u32 dims[ndim],
              f32 data[prod(dims)], row-major

Version 2 differs in one place: after dims[ndim] each tensor has a u32
dtype, 0 for float32 and 1 for float64, and its data are of that type. A
file is written as version 2 only when it holds a float64 tensor (the SVD
fixtures), so the version-1 files keep their bytes.

The hyperparameters are f64 because they are Python floats in PyTorch; every
tensor value of kinds 0-3 is float32, exactly as PyTorch computed it.

Tensors of a model fixture (kinds 0-2), in this order:
    x (N, I), y (N, O)          inputs and targets
    loraplus_ratio (1)          LoRA+ only: lora_B's learning rate over
                                lora_A's (PEFT's create_loraplus_optimizer)
    lora_dropout (1)            LoRA dropout only: p, float64 (so version 2)
    dora (1)                    DoRA only: 1; the parameters then include
                                lora_magnitude_vector.weight (O), and
    magnitude (E, O)            the magnitude after every epoch
    dropout_masks (E*N, I)      LoRA dropout only: nn.Dropout's keep flags
                                (0 or 1) of every training step in order,
                                each step's rows in its batch order
    order (E, N)                mini-batch only: the sample order of each
                                epoch (integers stored as float32); batches
                                are consecutive runs of B, the last may be short
    init.<param>                every parameter before training
    grad0.<param>               every trainable parameter's gradient at the
                                first step (first batch of epoch 0)
    loss (E)                    per epoch: the mean of its batch losses, each
                                taken before its own update
    final.<param>               every parameter after the last step
<param> is weight, bias (dense); lora_A.weight, lora_B.weight (LoRA); plus
base.weight, base.bias for the frozen base (kind 2: init and final only; the
base is frozen, so it has no grad0 and final must equal init).
A PiSSA fixture (kind 2) starts from PEFT's pissa_init: its init.* are the
PiSSA factors and the residual base, and pissa.weight (O, I), right after
y, is the base weight before PiSSA.

Network fixtures (kinds 6 dense, 7 LoRA from scratch, 8 LoRA on a frozen
base; --hidden) are model fixtures of a module holding
self.layers = nn.ModuleList([...]), with in = the first layer's I, out = the
last layer's O, and one more tensor after y:
    net (1 + H)                 the activation (0 tanh, 1 relu, 2 gelu), then
                                the H hidden widths, as float32
<param> is then layers.<l>.weight, layers.<l>.bias (dense);
layers.<l>.lora_A.weight, layers.<l>.lora_B.weight and, from scratch,
layers.<l>.bias (a trainable bias per LoRA layer, nn.Linear's init); on a
frozen base layers.<l>.base_layer.weight and .bias (init and final only).
The LoRA variants apply to every layer of a network: loraplus_ratio,
lora_dropout and dora as for one layer (DoRA's parameter is then
layers.<l>.lora_magnitude_vector.weight, and LoRA+'s 1-d rule takes a
scratch layer's bias to ratio * lr too), and, right after dora (or where
dora would be), per layer in place of the one-layer tensors:
    dropout_masks.<l> (E*N, I_l) layer l's keep flags of every training
                                step in order, each step's rows in batch order
    magnitude.<l> (E, O_l)      DoRA: layer l's magnitude after every epoch

Tensors of an Adam fixture (kind 3):
    init.p (P), grads (T, P) the gradient given at each step,
    params (T, P) the parameter after each step.

Tensors of an SVD fixture (kind 4), all float64, with k = min(m, n):
    a (m, n) the matrix, s (k), u (m, k), vh (k, n): what
    torch.linalg.svd(a, full_matrices=False) returns in float64 (LAPACK
    gesdd). Singular vectors are unique only up to sign (and rotation within
    a repeated value), so the tests compare them through projectors.
Tensors of a low-rank SVD fixture (kind 5): b (O, R) and a (R, I) float32,
as lora_B and lora_A are stored; s (R), u (O, R), vh (R, I) float64: the
top R of torch.linalg.svd(s * b.double() @ a.double()).
Tensors of a spectrum fixture (kind 6; in = n, out = m, rank = q, samples =
k), all float64: learned (m, n), shift (m, n), s (min(m, n)) the learned
matrix's singular values, rank_threshold (1), rank_entropy (1), energy (1)
of the shift in the span of the learned matrix's top q left singular
vectors, cosines (min(q, k)) of the principal angles between that span and
the shift's top k one (include/core/spectrum.h).

Determinism: one thread, deterministic algorithms, and a fixed seed per case,
so rerunning on the same machine rewrites the same bytes. Another CPU or BLAS
build may change the last bits; the C tests compare with tolerances.
"""

import os
import struct
import subprocess
import sys

INSTALL_HINT = "install PyTorch with: apt-get install python3-torch"
FORMAT_VERSION = 1
FORMAT_VERSION_F64 = 2  # only for files with a float64 tensor
KIND_DENSE, KIND_LORA, KIND_LORA_BASE, KIND_ADAM, KIND_SVD, KIND_SVD_LOWRANK = 0, 1, 2, 3, 4, 5
KIND_NET_DENSE, KIND_NET_LORA, KIND_NET_LORA_BASE = 6, 7, 8
ACTIVATIONS = {"tanh": 0, "relu": 1, "gelu": 2}  # lora_demo's activation_kind
KIND_SPECTRUM = 9


def _find_torch():
    """Import torch, or re-run this script under an interpreter that has it
    (the first of python3 on PATH and /usr/bin/python3 that can import it)."""
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    tried = [sys.executable]
    if os.environ.get("LD_TORCH_REEXEC") != "1":  # not when already re-run
        for cand in ("python3", "/usr/bin/python3"):
            tried.append(cand)
            try:
                ok = subprocess.run([cand, "-c", "import torch"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode == 0
            except OSError:
                ok = False
            if ok:
                env = dict(os.environ, LD_TORCH_REEXEC="1")
                os.execvpe(cand, [cand, os.path.abspath(__file__)] + sys.argv[1:], env)
    sys.exit("torch_reference.py: cannot import torch (tried %s); %s"
             % (", ".join(tried), INSTALL_HINT))


_find_torch()
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402


# ----------------------------------------------------------------------------
# writing the format


def _tensor_bytes(name, t, version):
    """Version 1: float32 data. Version 2: a dtype code, then float32 or
    float64 data as the tensor is."""
    f64 = version >= FORMAT_VERSION_F64 and t.dtype == torch.float64
    t = t.detach().to(torch.float64 if f64 else torch.float32).contiguous()
    assert t.dim() in (1, 2), name
    nb = name.encode("ascii")
    out = [struct.pack("<I", len(nb)), nb, struct.pack("<I", t.dim())]
    out.append(struct.pack("<%dI" % t.dim(), *t.shape))
    if version >= FORMAT_VERSION_F64:
        out.append(struct.pack("<I", 1 if f64 else 0))
    out.append(struct.pack("<%d%s" % (t.numel(), "d" if f64 else "f"), *t.flatten().tolist()))
    return b"".join(out)


def write_fixture(path, kind, dims, hyper, tensors):
    """dims: in, out, rank, samples, batch, epochs. hyper: lr, beta1, beta2,
    eps, alpha, scale. tensors: list of (name, tensor). Version 2 when a
    tensor is float64, version 1 otherwise."""
    version = FORMAT_VERSION_F64 if any(t.dtype == torch.float64 for _, t in tensors) \
        else FORMAT_VERSION
    head = b"LDFX" + struct.pack("<9I", version, kind, *dims, len(tensors))
    head += struct.pack("<6d", *hyper)
    body = b"".join(_tensor_bytes(n, t, version) for n, t in tensors)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head + body)
    os.replace(tmp, path)
    print("wrote %s (%d bytes)" % (path, len(head) + len(body)))


# ----------------------------------------------------------------------------
# the models, as lora_demo builds them


class LoRA(nn.Module):
    """y = [base(x)] + scale * lora_B(lora_A(x)), as PEFT computes it.

    From scratch (no base): A and B both get nn.Linear's default init,
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), like lora_demo's lora_init_scratch.
    On a frozen base: A as nn.Linear, B = 0 (PEFT's init), base frozen."""

    def __init__(self, i, o, r, scale, with_base, dropout=0.0, dora=False):
        super().__init__()
        # PEFT's lora_dropout: nn.Dropout(p) on the LoRA branch's input, or
        # nn.Identity for p = 0 (peft/tuners/lora/layer.py, update_layer)
        self.lora_dropout = nn.Dropout(p=dropout) if dropout > 0.0 else nn.Identity()
        self.masks = []  # the keep flags of every training forward, in order
        if with_base:
            self.base = nn.Linear(i, o)
            self.base.requires_grad_(False)
        else:
            self.base = None
        self.lora_A = nn.Linear(i, r, bias=False)  # weight (R, I)
        self.lora_B = nn.Linear(r, o, bias=False)  # weight (O, R)
        if with_base:
            nn.init.zeros_(self.lora_B.weight)
        self.scale = scale
        self.lora_magnitude_vector = None
        if dora:
            # PEFT's DoraLinearLayer.update_layer: the magnitude starts as the
            # row norms of W0 + s B A; a module whose parameter is "weight",
            # so that its name is lora_magnitude_vector.weight
            self.lora_magnitude_vector = nn.Module()
            self.lora_magnitude_vector.weight = nn.Parameter(
                torch.linalg.norm(self.base.weight.detach() + scale * self._lora_weight(), dim=1))

    def _lora_weight(self):
        """B A as DoraLinearLayer.get_lora_weight forms it, through the layers."""
        eye = torch.eye(self.lora_A.weight.shape[1])
        return self.lora_B(self.lora_A(eye)).T

    def _dora(self, x, result, dropped):
        """PEFT's DoraLinearLayer.forward (peft/tuners/lora/dora.py): the norm
        of W0 + s B A is detached; the base's part is result - bias, or, when
        dropout changed x, F.linear(x, W0) without bias."""
        w0 = self.base.weight
        weight_norm = torch.linalg.norm(w0 + self.scale * self._lora_weight().detach(), dim=1)
        g = (self.lora_magnitude_vector.weight / weight_norm.detach()).view(1, -1)
        lora_result = self.lora_B(self.lora_A(x))
        base_result = nn.functional.linear(x, w0) if dropped else result - self.base.bias
        return result + ((g - 1) * base_result + g * lora_result * self.scale)

    def forward(self, x):
        if self.lora_magnitude_vector is not None:  # DoRA (DoraLinearVariant.forward)
            dropped = self.training and isinstance(self.lora_dropout, nn.Dropout)
            xd = self.lora_dropout(x) if dropped else x
            if dropped:
                assert (x != 0).all()
                self.masks.append((xd != 0).to(torch.float32))
            return self._dora(xd, self.base(x), dropped)
        xd = self.lora_dropout(x)
        if self.training and isinstance(self.lora_dropout, nn.Dropout):
            assert (x != 0).all()  # so that xd != 0 is the keep flag
            self.masks.append((xd != 0).to(torch.float32))
        d = self.lora_B(self.lora_A(xd)) * self.scale
        return d if self.base is None else self.base(x) + d


def train_case(path, seed, kind, I, O, N, E, B, lr, rank=0, alpha=0.0, scale=0.0,
               make_model=None, extra=(), prepare=None,
               loraplus_ratio=None, dropout=0.0, dora=False):
    """make_model: builds the model (network fixtures); extra: tensors
    written after x and y; prepare(model), if given, changes the fresh model
    before training and returns more such tensors. loraplus_ratio, dropout
    and dora: the LoRA variants (one layer)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # module init draws from the default generator
    x = torch.randn(N, I, generator=g)
    y = torch.randn(N, O, generator=g)
    if make_model is not None:
        model = make_model()
    elif kind == KIND_DENSE:
        model = nn.Linear(I, O)
    else:
        model = LoRA(I, O, rank, scale, kind == KIND_LORA_BASE, dropout, dora)
    extra = list(extra) + (prepare(model) if prepare is not None else [])
    names = [n for n, _ in model.named_parameters()]
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    init = [(n, p.detach().clone()) for n, p in model.named_parameters()]

    if loraplus_ratio is None:
        opt = torch.optim.Adam([p for _, p in trainable], lr=lr, foreach=False)
    else:
        opt = loraplus_adam(trainable, lr, loraplus_ratio)
    loss_fn = nn.MSELoss()
    orders, losses, grad0, magnitudes = [], [], None, []
    for _ in range(E):
        if B < N:
            perm = torch.randperm(N, generator=g)
            orders.append(perm)
        else:
            perm = None
        batch_losses = []
        for start in range(0, N, B):
            if perm is None:
                xb, yb = x, y
            else:
                idx = perm[start:start + B]
                xb, yb = x[idx], y[idx]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if grad0 is None:
                grad0 = [(n, p.grad.detach().clone()) for n, p in trainable]
            opt.step()
            batch_losses.append(loss.item())
        # the notebook's epoch loss: mean of the batch losses (Python floats)
        losses.append(sum(batch_losses) / len(batch_losses))
        if dora:
            magnitudes.append(model.magnitudes() if isinstance(model, Net)
                              else model.lora_magnitude_vector.weight.detach().clone())

    params = dict(model.named_parameters())
    tensors = [("x", x), ("y", y)] + extra
    if loraplus_ratio is not None:
        tensors.append(("loraplus_ratio", torch.tensor([loraplus_ratio])))
    if dropout > 0.0:
        # p exactly (float64), and the masks each step drew, rows in batch order
        tensors.append(("lora_dropout", torch.tensor([dropout], dtype=torch.float64)))
        if not isinstance(model, Net):
            tensors.append(("dropout_masks", torch.cat(model.masks)))
    if dora:
        tensors.append(("dora", torch.tensor([1.0])))
    if isinstance(model, Net):
        tensors += model.variant_tensors(magnitudes)  # per layer, after the flags
    if orders:
        tensors.append(("order", torch.stack(orders).to(torch.float32)))
    tensors += [("init." + n, t) for n, t in init]
    tensors += [("grad0." + n, t) for n, t in grad0]
    tensors.append(("loss", torch.tensor(losses, dtype=torch.float32)))
    if dora and not isinstance(model, Net):
        tensors.append(("magnitude", torch.stack(magnitudes)))  # (E, O), after each epoch
    tensors += [("final." + n, params[n]) for n in names]
    write_fixture(path, kind, (I, O, rank, N, B, E), (lr, 0.9, 0.999, 1e-8, alpha, scale),
                  tensors)


def pissa_init(model):
    """PEFT's LoraLayer.pissa_init (src/peft/tuners/lora/layer.py) for
    init_lora_weights="pissa", in PEFT's own names and dtype (float32): the
    thin SVD of the base weight (O, I) gives V S Uh; the top r values are
    divided by the scaling; lora_A = diag(sqrt(S_r)) Uh_r, lora_B =
    V_r diag(sqrt(S_r)); the base becomes weight - scaling lora_B @ lora_A.
    Returns the base weight before, as "pissa.weight"."""
    r, weight = model.lora_A.weight.shape[0], model.base.weight.detach().clone()
    V, S, Uh = torch.linalg.svd(weight.data, full_matrices=False)
    Vr, Sr, Uhr = V[:, :r], S[:r].clone(), Uh[:r]
    Sr /= model.scale
    lora_A = torch.diag(torch.sqrt(Sr)) @ Uhr
    lora_B = Vr @ torch.diag(torch.sqrt(Sr))
    with torch.no_grad():
        model.lora_A.weight.copy_(lora_A)
        model.lora_B.weight.copy_(lora_B)
        model.base.weight.copy_(weight - model.scale * lora_B @ lora_A)
    return [("pissa.weight", weight)]


class NetLoRALayer(nn.Module):
    """One layer of a LoRA network, named as PEFT names a wrapped nn.Linear:
    base_layer (frozen) + scale * lora_B(lora_A(x)); from scratch, no base
    but a trainable bias with nn.Linear's init (lora_demo's choice).

    The variants, as PEFT's lora.Linear applies them to each wrapped layer
    (peft/tuners/lora/layer.py, Linear.forward; peft/tuners/lora/dora.py,
    DoraLinearLayer; peft/tuners/lora/variants.py, DoraLinearVariant):
      dropout p: the LoRA branch sees dropout(x); the base sees x.
      DoRA (on a base only): lora_magnitude_vector.weight (O) starts at the
        row norms of W0 + s B A (update_layer); the output is
        base(x) + (g - 1) base_result + g s B(A(xd)), g = m / n, with
        n = ||W0 + s B A|| row-wise detached (forward); base_result is
        base(x) - b0 without dropout and F.linear(xd, W0) with it.
    The keep flags of every training forward are kept in self.masks. They
    come from dropout(ones): torch's dropout is x * noise with noise =
    bernoulli(1 - p) / (1 - p), so x * dropout(ones) draws the same numbers
    and gives the same bits as dropout(x), and its flags are right even
    where x is 0 (relu)."""

    def __init__(self, i, o, r, scale, with_base, dropout=0.0, dora=False):
        super().__init__()
        if with_base:
            self.base_layer = nn.Linear(i, o)
            self.base_layer.requires_grad_(False)
        self.lora_A = nn.Linear(i, r, bias=False)
        self.lora_B = nn.Linear(r, o, bias=False)
        if with_base:
            nn.init.zeros_(self.lora_B.weight)
        else:
            bound = 1.0 / i ** 0.5
            self.bias = nn.Parameter(torch.empty(o).uniform_(-bound, bound))
        self.scale, self.with_base = scale, with_base
        self.lora_dropout = nn.Dropout(p=dropout) if dropout > 0.0 else None
        self.masks = []
        self.lora_magnitude_vector = None
        if dora:
            assert with_base, "DoRA needs a base"
            self.lora_magnitude_vector = nn.Module()
            self.lora_magnitude_vector.weight = nn.Parameter(
                torch.linalg.norm(self.base_layer.weight.detach()
                                  + scale * self._lora_weight().detach(), dim=1))

    def _lora_weight(self):
        """B A through the layers, as DoraLinearLayer.get_lora_weight forms it."""
        eye = torch.eye(self.lora_A.weight.shape[1])
        return self.lora_B(self.lora_A(eye)).T

    def forward(self, x):
        dropped = self.training and self.lora_dropout is not None
        xd = x
        if dropped:
            noise = self.lora_dropout(torch.ones_like(x))
            self.masks.append((noise != 0).to(torch.float32))
            xd = x * noise
        lora = self.lora_B(self.lora_A(xd))
        if not self.with_base:
            return self.bias + lora * self.scale
        result = self.base_layer(x)
        if self.lora_magnitude_vector is None:
            return result + lora * self.scale
        w0 = self.base_layer.weight
        weight_norm = torch.linalg.norm(w0 + self.scale * self._lora_weight(), dim=1).detach()
        g = (self.lora_magnitude_vector.weight / weight_norm).view(1, -1)
        base_result = nn.functional.linear(xd, w0) if dropped else result - self.base_layer.bias
        return result + ((g - 1) * base_result + g * lora * self.scale)


class Net(nn.Module):
    """in -> h1 -> ... -> out, the activation between layers, not after the last."""

    def __init__(self, layers, act):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.act = {"tanh": torch.tanh, "relu": torch.relu,
                    "gelu": nn.GELU()}[act]  # nn.GELU(): the exact erf form

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = self.act(x)
        return x

    def variant_tensors(self, magnitudes):
        """Per layer: the dropout masks of every step (E*N, I_l), and the
        DoRA magnitude after every epoch (E, O_l) from magnitudes, a list
        over epochs of per-layer lists."""
        out = []
        for l, layer in enumerate(self.layers):
            if getattr(layer, "masks", None):
                out.append(("dropout_masks.%d" % l, torch.cat(layer.masks)))
        for l, layer in enumerate(self.layers):
            if getattr(layer, "lora_magnitude_vector", None) is not None:
                out.append(("magnitude.%d" % l, torch.stack([m[l] for m in magnitudes])))
        return out

    def magnitudes(self):
        return [layer.lora_magnitude_vector.weight.detach().clone()
                if getattr(layer, "lora_magnitude_vector", None) is not None else None
                for layer in self.layers]


def network_case(path, seed, kind, sizes, act, N, E, B, lr, rank=0, alpha=0.0, scale=0.0,
                 loraplus_ratio=None, dropout=0.0, dora=False):
    """A --hidden network: sizes = [in, h1, ..., out]; the variants on every layer."""
    def make_model():
        pairs = list(zip(sizes[:-1], sizes[1:]))
        if kind == KIND_NET_DENSE:
            return Net([nn.Linear(i, o) for i, o in pairs], act)
        return Net([NetLoRALayer(i, o, rank, scale, kind == KIND_NET_LORA_BASE, dropout, dora)
                    for i, o in pairs], act)
    net = torch.tensor([ACTIVATIONS[act]] + list(sizes[1:-1]), dtype=torch.float32)
    train_case(path, seed, kind, sizes[0], sizes[-1], N, E, B, lr, rank, alpha, scale,
               make_model=make_model, extra=[("net", net)],
               loraplus_ratio=loraplus_ratio, dropout=dropout, dora=dora)


def network_cases(out):
    # 10 -> 16 -> 5 with tanh, dense and LoRA r = 2 from scratch, full batch
    network_case(out("net_dense_10x16x5_tanh.ldfx"), 601, KIND_NET_DENSE, [10, 16, 5], "tanh",
                 16, 30, 16, 0.01)
    network_case(out("net_lora_r2_10x16x5_tanh.ldfx"), 602, KIND_NET_LORA, [10, 16, 5], "tanh",
                 16, 30, 16, 0.01, rank=2, alpha=4.0, scale=4.0 / 2)
    # 7 -> 9 -> 4 -> 3 with relu, LoRA r = 2 on a frozen base, mini-batches of 5
    network_case(out("net_base_lora_r2_7x9x4x3_relu_b5.ldfx"), 603, KIND_NET_LORA_BASE,
                 [7, 9, 4, 3], "relu", 13, 20, 5, 0.01, rank=2, alpha=2.0, scale=1.0)
    # gelu: LoRA r = 3 from scratch, 6 -> 8 -> 3, mini-batches of 4
    network_case(out("net_lora_r3_6x8x3_gelu_b4.ldfx"), 604, KIND_NET_LORA, [6, 8, 3], "gelu",
                 11, 20, 4, 0.01, rank=3, alpha=3.0, scale=1.0)


def network_variant_cases(out):
    """The LoRA variants (issue 14) on every layer of a network (issue 12).
    On a frozen base, as PEFT applies them; from scratch, what lora_demo
    allows there (dropout and LoRA+, whose 1-d rule takes each layer's bias
    to ratio * lr; DoRA needs a base)."""
    # DoRA on 7 -> 5 -> 3 with tanh, full batch
    network_case(out("net_base_dora_r2_7x5x3_tanh.ldfx"), 631, KIND_NET_LORA_BASE, [7, 5, 3],
                 "tanh", 16, 25, 16, 0.01, rank=2, alpha=4.0, scale=2.0, dora=True)
    # dropout p = 0.2 with relu (zeros in the hidden inputs), mini-batches of 5
    network_case(out("net_base_dropout_r2_7x9x4x3_relu_b5.ldfx"), 632, KIND_NET_LORA_BASE,
                 [7, 9, 4, 3], "relu", 13, 20, 5, 0.01, rank=2, alpha=2.0, scale=1.0,
                 dropout=0.2)
    # LoRA+ with ratio 16 on a gelu network, mini-batches of 4
    network_case(out("net_base_loraplus16_r3_6x8x3_gelu_b4.ldfx"), 633, KIND_NET_LORA_BASE,
                 [6, 8, 3], "gelu", 11, 20, 4, 0.005, rank=3, alpha=3.0, scale=1.0,
                 loraplus_ratio=16.0)
    # all three on 3 layers, relu, mini-batches of 5
    network_case(out("net_base_dora_dropout_loraplus16_r2_7x6x5x3_relu_b5.ldfx"), 634,
                 KIND_NET_LORA_BASE, [7, 6, 5, 3], "relu", 13, 20, 5, 0.005, rank=2, alpha=4.0,
                 scale=2.0, loraplus_ratio=16.0, dropout=0.25, dora=True)
    # from scratch: dropout (tanh, mini-batches of 4) and LoRA+ (gelu, full batch)
    network_case(out("net_dropout_r2_10x8x5_tanh_b4.ldfx"), 635, KIND_NET_LORA, [10, 8, 5],
                 "tanh", 14, 20, 4, 0.01, rank=2, alpha=4.0, scale=2.0, dropout=0.3)
    network_case(out("net_loraplus16_r2_6x7x4x3_gelu.ldfx"), 636, KIND_NET_LORA, [6, 7, 4, 3],
                 "gelu", 12, 25, 12, 0.002, rank=2, alpha=2.0, scale=1.0, loraplus_ratio=16.0)


def loraplus_adam(trainable, lr, ratio):
    """Adam with PEFT's LoRA+ parameter groups (peft/optimizers/loraplus.py,
    create_loraplus_optimizer): a tensor whose name has lora_B, or a 1-d one,
    at lr * ratio (a Python float product); the rest at lr. No weight decay
    (its loraplus_weight_decay default, 0) and no embeddings here."""
    group_b = [p for n, p in trainable if "lora_B" in n or p.ndim == 1]
    group_a = [p for n, p in trainable if not ("lora_B" in n or p.ndim == 1)]
    return torch.optim.Adam([{"params": group_a, "lr": lr},
                             {"params": group_b, "lr": lr * ratio}], lr=lr, foreach=False)


def variant_cases(out):
    """The LoRA variants of issue 14, on a frozen base as PEFT applies them."""
    # LoRA+ with PEFT's usual ratio 16, full batch and shuffled mini-batches
    train_case(out("base_loraplus16_r2_10x5.ldfx"), 601, KIND_LORA_BASE, 10, 5, 16, 30, 16, 0.01,
               rank=2, alpha=4.0, scale=4.0 / 2, loraplus_ratio=16.0)
    train_case(out("base_loraplus16_r3_7x3_b5.ldfx"), 602, KIND_LORA_BASE, 7, 3, 13, 20, 5, 0.005,
               rank=3, alpha=3.0, scale=1.0, loraplus_ratio=16.0)
    # LoRA dropout, PyTorch's masks recorded: full batch, and mini-batches
    train_case(out("base_dropout_r2_10x5.ldfx"), 611, KIND_LORA_BASE, 10, 5, 16, 30, 16, 0.01,
               rank=2, alpha=4.0, scale=4.0 / 2, dropout=0.1)
    train_case(out("base_dropout_r3_7x3_b5.ldfx"), 612, KIND_LORA_BASE, 7, 3, 13, 20, 5, 0.01,
               rank=3, alpha=6.0, scale=2.0, dropout=0.37)
    # DoRA: 10->5 full batch, an odd shape in mini-batches, and with dropout
    train_case(out("base_dora_r2_10x5.ldfx"), 621, KIND_LORA_BASE, 10, 5, 16, 30, 16, 0.01,
               rank=2, alpha=4.0, scale=4.0 / 2, dora=True)
    train_case(out("base_dora_r3_7x3_b5.ldfx"), 622, KIND_LORA_BASE, 7, 3, 13, 20, 5, 0.01,
               rank=3, alpha=6.0, scale=2.0, dora=True)
    train_case(out("base_dora_dropout_r2_7x3_b5.ldfx"), 623, KIND_LORA_BASE, 7, 3, 13, 20, 5,
               0.01, rank=2, alpha=2.0, scale=1.0, dropout=0.2, dora=True)


def adam_case(path, seed, T=50, lr=0.01):
    """Adam alone, on one tensor of P = 10 elements, for T steps with a fixed
    gradient sequence chosen to expose eps and the bias corrections."""
    g = torch.Generator().manual_seed(seed)
    P = 10
    steps = torch.arange(T, dtype=torch.float64)
    alt = torch.where(steps.remainder(2) == 0, 1.0, -1.0)
    early = steps < 10
    cols = [
        torch.full((T,), 1e3, dtype=torch.float64),     # large, constant
        1e3 * alt,                                      # large, sign flips every step
        torch.full((T,), 1e-6, dtype=torch.float64),    # tiny: sqrt(v) ~ 100 eps
        1e-6 * alt,                                     # tiny, sign flips
        torch.where(early, 1e3, 1e-6),                  # large then tiny: v remembers
        torch.where(early, -1e-6, 1e3),                 # tiny then large
        torch.full((T,), 1e-9, dtype=torch.float64),    # smaller than eps
        torch.where(early, 0.0, 3e-7),                  # zero (no move), then tiny
        # random magnitudes 1e-6 .. 1e3 and random signs
        torch.randn(T, generator=g, dtype=torch.float64).sign()
        * torch.pow(10.0, torch.rand(T, generator=g, dtype=torch.float64) * 9 - 6),
        torch.randn(T, generator=g, dtype=torch.float64),  # ordinary
    ]
    grads = torch.stack(cols, dim=1).to(torch.float32)  # (T, P)
    p0 = torch.randn(P, generator=g)
    p = nn.Parameter(p0.clone())
    opt = torch.optim.Adam([p], lr=lr, foreach=False)
    after = []
    for t in range(T):
        p.grad = grads[t].clone()
        opt.step()
        after.append(p.detach().clone())
    write_fixture(path, KIND_ADAM, (P, 0, 0, 0, 0, T), (lr, 0.9, 0.999, 1e-8, 0.0, 0.0),
                  [("init.p", p0), ("grads", grads), ("params", torch.stack(after))])


# ----------------------------------------------------------------------------
# the SVD (src/core/svd.c), against torch.linalg.svd in float64


def svd_case(path, a, rank):
    """a (m, n) float64; rank: its rank as constructed."""
    m, n = a.shape
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    write_fixture(path, KIND_SVD, (n, m, rank, 0, 0, 0), (0.0,) * 6,
                  [("a", a), ("s", s), ("u", u), ("vh", vh)])


def svd_lowrank_case(path, seed, O, R, I, scale):
    """b (O, R), a (R, I) float32 as a model stores them; the SVD of the
    product in float64, its top R."""
    g = torch.Generator().manual_seed(seed)
    b = torch.randn(O, R, generator=g)
    a = torch.randn(R, I, generator=g)
    u, s, vh = torch.linalg.svd(scale * (b.double() @ a.double()), full_matrices=False)
    write_fixture(path, KIND_SVD_LOWRANK, (I, O, R, 0, 0, 0), (0.0,) * 5 + (scale,),
                  [("b", b), ("a", a), ("s", s[:R]), ("u", u[:, :R]), ("vh", vh[:R])])


def orthonormal(g, m, n):
    """(m, n), m >= n, orthonormal columns: Q of a random matrix's QR."""
    return torch.linalg.qr(torch.randn(m, n, generator=g, dtype=torch.float64))[0]


def svd_cases(out):
    g = torch.Generator().manual_seed(501)
    randn = lambda m, n: torch.randn(m, n, generator=g, dtype=torch.float64)  # noqa: E731
    svd_case(out("svd_random_7x5.ldfx"), randn(7, 5), 5)
    svd_case(out("svd_random_40x40.ldfx"), randn(40, 40), 40)
    svd_case(out("svd_rank2_10x8.ldfx"), randn(10, 2) @ randn(2, 8), 2)
    svd_case(out("svd_tall_50x3.ldfx"), randn(50, 3), 3)
    svd_case(out("svd_wide_3x50.ldfx"), randn(3, 50), 3)
    svd_case(out("svd_row_1x9.ldfx"), randn(1, 9), 1)
    svd_case(out("svd_column_9x1.ldfx"), randn(9, 1), 1)
    # singular values 3, 3, 3, 1, 1: U and V are defined only up to a
    # rotation within each repeated value's subspace
    q1, q2 = orthonormal(g, 8, 5), orthonormal(g, 5, 5)
    diag = torch.tensor([3.0, 3.0, 3.0, 1.0, 1.0], dtype=torch.float64)
    svd_case(out("svd_repeated_8x5.ldfx"), q1 @ torch.diag(diag) @ q2.T, 5)
    # graded: singular values 1, 1e-3, ..., 1e-12 (wide, so A^T is decomposed)
    q1, q2 = orthonormal(g, 5, 5), orthonormal(g, 7, 5)
    diag = torch.tensor([1.0, 1e-3, 1e-6, 1e-9, 1e-12], dtype=torch.float64)
    svd_case(out("svd_graded_5x7.ldfx"), q1 @ torch.diag(diag) @ q2.T, 5)
    svd_case(out("svd_zero_4x3.ldfx"), torch.zeros(4, 3, dtype=torch.float64), 0)
    svd_lowrank_case(out("svd_lowrank_r4_40x30.ldfx"), 502, 40, 4, 30, 2.0)


# ----------------------------------------------------------------------------
# spectra (src/core/spectrum.c): effective ranks, energy, principal angles


def spectrum_case(path, seed, m, n, q, k):
    """A learned update (m, n): q strong directions and a tail of noise, and
    a shift (m, n) of rank k partly aligned with it. torch computes what
    include/core/spectrum.h defines: the learned update's singular values,
    its effective ranks (threshold 1 % of the largest; Roy and Vetterli's
    exp(H(p)), p = s / sum s), the energy of the shift in the span of its
    top q left singular vectors through the projector P = U_q U_q^T, and the
    cosines of the principal angles between that span and the shift's."""
    g = torch.Generator().manual_seed(seed)
    randn = lambda a, b: torch.randn(a, b, generator=g, dtype=torch.float64)  # noqa: E731
    strong = randn(m, q) @ randn(q, n)
    learned = strong + 0.05 * randn(m, n)
    shift = randn(m, k) @ randn(k, n) + 0.5 * strong
    u, s, _ = torch.linalg.svd(learned, full_matrices=False)
    rank_threshold = (s > 0.01 * s[0]).sum().double()
    p = s / s.sum()
    p = p[p > 0]
    rank_entropy = torch.exp(-(p * torch.log(p)).sum())
    proj = u[:, :q] @ u[:, :q].T
    energy = torch.linalg.matrix_norm(proj @ shift) ** 2 / torch.linalg.matrix_norm(shift) ** 2
    u2 = torch.linalg.svd(shift, full_matrices=False)[0][:, :k]
    cosines = torch.linalg.svdvals(u[:, :q].T @ u2)
    one = lambda x: x.reshape(1)  # noqa: E731
    write_fixture(path, KIND_SPECTRUM, (n, m, q, k, 0, 0), (0.0,) * 6,
                  [("learned", learned), ("shift", shift), ("s", s),
                   ("rank_threshold", one(rank_threshold)), ("rank_entropy", one(rank_entropy)),
                   ("energy", one(energy)), ("cosines", cosines)])


def spectrum_cases(out):
    spectrum_case(out("spectrum_10x8_q3_k2.ldfx"), 601, 10, 8, 3, 2)
    spectrum_case(out("spectrum_5x12_q2_k3.ldfx"), 602, 5, 12, 2, 3)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    print("torch %s" % torch.__version__)
    out = lambda name: os.path.join(outdir, name)  # noqa: E731

    # (a) the default experiment's shape: 10 -> 5, 16 samples, full batch,
    # 30 epochs, lr 0.01; dense and LoRA ranks 1..4 with alpha = r (scale 1).
    train_case(out("dense_10x5.ldfx"), 101, KIND_DENSE, 10, 5, 16, 30, 16, 0.01)
    for r in range(1, 5):
        train_case(out("lora_r%d_10x5.ldfx" % r), 110 + r, KIND_LORA, 10, 5, 16, 30, 16, 0.01,
                   rank=r, alpha=float(r), scale=1.0)
    # (b) an odd shape that catches transposes, alpha != r, shuffled
    # mini-batches of 5 (the last has 3 rows).
    train_case(out("dense_7x3_b5.ldfx"), 201, KIND_DENSE, 7, 3, 13, 20, 5, 0.01)
    train_case(out("lora_r2_7x3_b5.ldfx"), 202, KIND_LORA, 7, 3, 13, 20, 5, 0.01,
               rank=2, alpha=5.0, scale=5.0 / 2)
    # (c) fine-tuning form: LoRA on a frozen base, B = 0 at the start.
    train_case(out("base_lora_r4_10x5.ldfx"), 301, KIND_LORA_BASE, 10, 5, 16, 30, 16, 0.01,
               rank=4, alpha=8.0, scale=8.0 / 4)
    # rsLoRA scale alpha/sqrt(r), with mini-batches (gathers cached base rows)
    train_case(out("base_rslora_r3_7x3_b5.ldfx"), 302, KIND_LORA_BASE, 7, 3, 13, 20, 5, 0.01,
               rank=3, alpha=6.0, scale=6.0 / 3 ** 0.5)
    # PiSSA: A, B and the residual base from the base's SVD (PEFT's pissa_init)
    train_case(out("pissa_lora_r2_10x5.ldfx"), 303, KIND_LORA_BASE, 10, 5, 16, 30, 16, 0.01,
               rank=2, alpha=4.0, scale=4.0 / 2, prepare=pissa_init)
    # (c2) wider than the narrow pass, full batch: lora_demo trains these by
    # the LoRA closed form (src/train/lora_closed.c), from scratch and on a base.
    train_case(out("lora_r4_40x24.ldfx"), 311, KIND_LORA, 40, 24, 64, 30, 64, 0.01,
               rank=4, alpha=6.0, scale=6.0 / 4)
    train_case(out("base_lora_r3_40x24.ldfx"), 312, KIND_LORA_BASE, 40, 24, 64, 30, 64, 0.01,
               rank=3, alpha=6.0, scale=6.0 / 3)
    # (d) Adam alone, 50 steps, large and tiny gradients.
    adam_case(out("adam_50.ldfx"), 401)
    # (e) the SVD: random, rank-deficient, tall, wide, one row, one column,
    # repeated and graded singular values, zero; a low-rank product.
    svd_cases(out)
    # (f) --hidden networks
    network_cases(out)
    # (f) spectra: effective ranks, energy captured, principal angles.
    spectrum_cases(out)
    # (g) the LoRA variants: LoRA+, LoRA dropout, DoRA
    variant_cases(out)
    # (h) the variants on every layer of a network
    network_variant_cases(out)


if __name__ == "__main__":
    main()
