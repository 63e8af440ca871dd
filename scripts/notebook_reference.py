"""notebook_reference.py - lora_demo's default experiment, in PyTorch, the way
the notebook does it: the baseline process for the whole-process speed ratio
in `make bench` (scripts/bench.py times this whole script, `import torch`
included, against `./lora_demo --epochs 100 --seed 42`).

The experiment: dummy data (100 samples, 10 -> 5, standard normals), a dense
nn.Linear and LoRA layers of ranks 1..4 (W = B @ A, scale alpha/r with
alpha = r), each trained for 100 full-batch epochs with Adam (lr 0.01) on
MSE; it prints each model's first and final loss. The numbers are not
lora_demo's (a different random generator); the work is the same.

Usage: python3 scripts/notebook_reference.py [--threads N]
"""
import argparse

import torch


class LoRALayer(torch.nn.Module):
    def __init__(self, in_features, out_features, rank, alpha):
        super().__init__()
        self.A = torch.nn.Parameter(torch.empty(rank, in_features).uniform_(-1, 1) / in_features ** 0.5)
        self.B = torch.nn.Parameter(torch.empty(out_features, rank).uniform_(-1, 1) / rank ** 0.5)
        self.scaling = alpha / rank

    def forward(self, x):
        W = self.B @ self.A
        return x @ W.T * self.scaling


def train(model, x, y, epochs=100, lr=0.01):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    x = torch.randn(100, 10)
    y = torch.randn(100, 5)
    models = {"dense": torch.nn.Linear(10, 5)}
    for r in (1, 2, 3, 4):
        models[f"lora_r{r}"] = LoRALayer(10, 5, r, r)
    print(f"{'model':<10} {'first loss':>12} {'final loss':>12}")
    for name, model in models.items():
        losses = train(model, x, y)
        print(f"{name:<10} {losses[0]:12.6f} {losses[-1]:12.6f}")


if __name__ == "__main__":
    main()
