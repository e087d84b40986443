"""A training loop through ``torch.compile(model)`` (backend eager: no compiler
needed), on CPU autocast, saving the compiled model's state_dict (its keys start
with ``_orig_mod.``), as real scripts do since PyTorch 2."""

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.LayerNorm(12), nn.Linear(12, 3))

    def forward(self, x):
        return self.net(x)


def main():
    torch.manual_seed(0)
    model = MLP()
    compiled = torch.compile(model, backend="eager")
    optimizer = torch.optim.AdamW(compiled.parameters(), lr=1e-2)
    for step in range(2):
        x, y = torch.randn(4, 6), torch.randint(0, 3, (4,))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = compiled(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f}")
    torch.save(compiled.state_dict(), "compiled.pt")


if __name__ == "__main__":
    main()
