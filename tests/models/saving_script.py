"""A training script that saves, loads, copies and compiles its model midway,
as real ones do (pytorch/examples' word_language_model ends with
``torch.save(model, f)``): a traced run must print what a plain run prints.

    python tests/models/saving_script.py MODEL [ACTION ...]

MODEL: ``mlp`` (a 3-layer ``nn.Sequential``), ``rnn`` (word_language_model's
``RNNModel``, small) or ``hooked-mlp``/``hooked-rnn`` (with a hook of the
user's on one module). ACTION, after the second training step: ``deepcopy``,
``save`` (``torch.save``/``torch.load`` of the whole model), ``state_dict``
(a round trip into a new model, through ``torch.save`` too), ``compile``
(``torch.compile``, trained on), ``inside`` (the model deep-copies and saves
itself inside its own forward). It prints its losses and, for each copy,
its loss in eval mode and the hooks it carries as made.
"""

from __future__ import annotations

import copy
import io
import sys
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

HOOK_ATTRS = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
              "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks")
NTOKEN, BPTT, BATCH = 20, 5, 4


def users_hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
    """A hook of the user's (module-level: picklable, as torch.save needs)."""


class RNNModel(nn.Module):
    """pytorch/examples' word_language_model model (LSTM), small."""

    def __init__(self, ntoken: int = NTOKEN, ninp: int = 8, nhid: int = 8, nlayers: int = 2) -> None:
        super().__init__()
        self.ntoken, self.nhid, self.nlayers = ntoken, nhid, nlayers
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=0.2)
        self.decoder = nn.Linear(nhid, ntoken)
        self.snapshot_next = False
        self.snapshots: list[tuple[nn.Module, list]] = []

    def forward(self, input: torch.Tensor, hidden: tuple[torch.Tensor, torch.Tensor]):
        if self.snapshot_next:  # a copy made by the model itself, while it runs
            self.snapshot_next = False
            self.snapshots.append(snapshot(self))
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz: int) -> tuple[torch.Tensor, torch.Tensor]:
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


class MLP(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, NTOKEN))
        self.snapshot_next = False
        self.snapshots: list[tuple[nn.Module, list]] = []

    def forward(self, input: torch.Tensor):
        if self.snapshot_next:
            self.snapshot_next = False
            self.snapshots.append(snapshot(self))
        return F.log_softmax(super().forward(input), dim=1)


def snapshot(model: nn.Module) -> tuple[nn.Module, list]:
    """A deep copy and a torch.save/torch.load of a model: the copy and its hooks."""
    snapshots, model.snapshots = model.snapshots, []
    try:
        clone = copy.deepcopy(model)
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
    finally:
        model.snapshots = snapshots
    return clone, hooks_of(clone) + hooks_of(loaded)


def build(kind: str) -> nn.Module:
    torch.manual_seed(0)
    model = RNNModel() if kind.endswith("rnn") else MLP()
    if kind.startswith("hooked"):
        model.get_submodule("decoder" if kind.endswith("rnn") else "2").register_forward_hook(users_hook)
    return model


def batches(kind: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Six batches and a short last one (its own input signature)."""
    generator = torch.Generator().manual_seed(1)
    sizes = [BATCH] * 6 + [BATCH - 1]
    if kind.endswith("rnn"):
        return [(torch.randint(NTOKEN, (BPTT, n), generator=generator),
                 torch.randint(NTOKEN, (BPTT * n,), generator=generator)) for n in sizes]
    return [(torch.randn(n, 6, generator=generator), torch.randint(NTOKEN, (n,), generator=generator))
            for n in sizes]


def hooks_of(model: nn.Module) -> list[tuple[str, str, int]]:
    return [(name, attr, len(getattr(module, attr))) for name, module in model.named_modules()
            for attr in HOOK_ATTRS if getattr(module, attr)]


def loss_of(model: nn.Module, kind: str, data: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind.endswith("rnn"):
        output, _ = model(data, model.init_hidden(data.shape[1]))
    else:
        output = model(data)
    return F.nll_loss(output, target)


def train(model: nn.Module, kind: str, actions: Sequence[str]) -> list[str]:
    """Train on ``batches``; the actions after the second step. Returns what it prints."""
    lines: list[str] = []
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    step_model = model
    eval_data, eval_target = batches(kind)[0]
    copies: list[tuple[str, nn.Module, list]] = []  # (action, the copy, its hooks as made)
    for step, (data, target) in enumerate(batches(kind)):
        torch.manual_seed(step)  # dropout draws the same numbers in both runs
        optimizer.zero_grad()
        loss = loss_of(step_model, kind, data, target)
        loss.backward()
        optimizer.step()
        lines.append(f"step {step} loss {loss.item()!r}")
        if step == 1:
            copies += act(model, kind, actions)
            if "compile" in actions:
                step_model = torch.compile(model, backend="eager")
                copies.append(("compile", step_model, hooks_of(step_model)))
            if "inside" in actions:
                model.snapshot_next = True
    copies += [("inside", clone, hooks) for clone, hooks in model.snapshots]
    model.eval()
    with torch.no_grad():
        for name, clone, hooks in [("model", model, hooks_of(model)), *copies]:
            clone.eval()
            loss = loss_of(clone, kind, eval_data, eval_target)
            lines.append(f"{name}: loss {loss.item()!r}, hooks {hooks}")
    buffer = io.BytesIO()
    torch.save(model, buffer)  # where word_language_model ends
    buffer.seek(0)
    lines.append(f"saved and loaded: hooks {hooks_of(torch.load(buffer, weights_only=False))}")
    return lines


def act(model: nn.Module, kind: str, actions: Sequence[str]) -> list[tuple[str, nn.Module, list]]:
    copies: list[tuple[str, nn.Module]] = []
    if "deepcopy" in actions:
        copies.append(("deepcopy", copy.deepcopy(model)))
    if "save" in actions:
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        copies.append(("save", torch.load(buffer, weights_only=False)))
    if "state_dict" in actions:
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        buffer.seek(0)
        other = build(kind)
        other.load_state_dict(torch.load(buffer))
        copies.append(("state_dict", other))
    return [(name, clone, hooks_of(clone)) for name, clone in copies]


def main(argv: Sequence[str]) -> int:
    kind, *actions = argv
    for line in train(build(kind), kind, actions):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
