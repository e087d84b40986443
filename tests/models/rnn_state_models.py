"""Correct RNN models that read a final state or cut their batches by hand the way
the buggy variants of ``tests/cases/variants/`` (st001_m-o, st006_h-l, st013_n) do,
and must stay quiet: each ``make(name) -> (model, work)`` runs the passes and the loss
as a user's script does.

- ``bi_cat_last_two``: a 2-layer bidirectional GRU read with ``torch.cat((h_n[-2], h_n[-1]), 1)``;
- ``bi_view_layers``: h_n viewed ``(num_layers, 2, batch, hidden)``, the last layer's two
  directions joined (the documented way to split h_n);
- ``bi_sum_directions``: both directions of the last layer added on separate lines;
- ``bi_first_layer_both``: ``h_n[0]`` and ``h_n[1]`` (layer 0's two directions) of a 1-layer LSTM;
- ``bi_permute_flatten``: ``h_n.permute(1, 0, 2).reshape(batch, -1)``, every row of every sample;
- ``bi_encoder_slice_to_decoder``: a bidirectional encoder whose ``h_n[:layers]`` starts a
  decoder (the chatbot tutorial's hand-over; a slice, not one direction);
- ``uni_stacked_minus_one``: a unidirectional 3-layer LSTM read with ``h_n[-1]``;
- ``seq_first_hand_batches``: a seq-first GRU fed ``x[i:i + B].transpose(0, 1)``, batches
  cut by hand, the state read with ``h_n[-1]`` into a cross-entropy;
- ``seq_first_hand_windows``: a seq-first LSTM forecaster, windows stacked (T, N, 1) by hand
  and read with ``out[-1]``.
"""

from __future__ import annotations

import torch
from torch import nn

HIDDEN = 12


class _BiGRU(nn.Module):
    def __init__(self, how: str, layers: int = 2) -> None:
        super().__init__()
        self.how, self.layers = how, layers
        self.gru = nn.GRU(5, HIDDEN, num_layers=layers, batch_first=True, bidirectional=True)
        wide = {"bi_permute_flatten": 2 * layers * HIDDEN, "bi_sum_directions": HIDDEN}.get(how, 2 * HIDDEN)
        self.fc = nn.Linear(wide, 3)

    def forward(self, x):
        _, h_n = self.gru(x)
        if self.how == "bi_cat_last_two":
            return self.fc(torch.cat((h_n[-2], h_n[-1]), dim=1))
        if self.how == "bi_view_layers":
            last = h_n.view(self.layers, 2, x.size(0), HIDDEN)[-1]
            return self.fc(torch.cat((last[0], last[1]), dim=1))
        if self.how == "bi_sum_directions":
            forward_state = h_n[-2]
            backward_state = h_n[-1]
            return self.fc(forward_state + backward_state)
        return self.fc(h_n.permute(1, 0, 2).reshape(x.size(0), -1))


class _OneLayerBiLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, HIDDEN, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * HIDDEN, 3)

    def forward(self, x):
        _, (hidden, _) = self.lstm(x)
        return self.fc(torch.cat([hidden[0], hidden[1]], dim=-1))


class _Seq2Seq(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.GRU(5, HIDDEN, num_layers=2, bidirectional=True)
        self.decoder = nn.GRU(4, HIDDEN, num_layers=2)
        self.out = nn.Linear(HIDDEN, 3)

    def forward(self, src, tgt):  # seq-first: (steps, batch, features)
        _, hidden = self.encoder(src)
        out, _ = self.decoder(tgt, hidden[: self.decoder.num_layers])
        return self.out(out)


class _Stacked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, HIDDEN, num_layers=3, batch_first=True)
        self.fc = nn.Linear(HIDDEN, 3)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.fc(h_n[-1])


class _SeqFirstClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(40, 8)
        self.gru = nn.GRU(8, HIDDEN)
        self.fc = nn.Linear(HIDDEN, 4)

    def forward(self, ids):  # (steps, batch)
        _, h_n = self.gru(self.emb(ids))
        return self.fc(h_n[-1])


class _SeqFirstForecaster(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, HIDDEN, num_layers=2)
        self.linear = nn.Linear(HIDDEN, 1)

    def forward(self, x):  # (steps, batch, 1)
        out, _ = self.lstm(x)
        return self.linear(out[-1])


def _classify(model, x, y, batch):
    def work():
        for i in range(0, len(x), batch):
            nn.functional.cross_entropy(model(x[i:i + batch]), y[i:i + batch]).backward()

    return work


def make(name: str):
    """The correct model ``name`` (see the module's list) and its ``work()``."""
    torch.manual_seed(0)
    x, y = torch.randn(20, 9, 5), torch.randint(0, 3, (20,))
    if name.startswith("bi_") and name not in ("bi_first_layer_both", "bi_encoder_slice_to_decoder"):
        model = _BiGRU(name)
        return model, _classify(model, x, y, 8)
    if name == "bi_first_layer_both":
        model = _OneLayerBiLSTM()
        return model, _classify(model, x, y, 8)
    if name == "bi_encoder_slice_to_decoder":
        model = _Seq2Seq()
        src, tgt, target = torch.randn(9, 6, 5), torch.randn(7, 6, 4), torch.randint(0, 3, (7 * 6,))

        def work():
            nn.functional.cross_entropy(model(src, tgt).reshape(-1, 3), target).backward()

        return model, work
    if name == "uni_stacked_minus_one":
        model = _Stacked()
        return model, _classify(model, x, y, 8)
    if name == "seq_first_hand_batches":
        model = _SeqFirstClassifier()
        ids, labels = torch.randint(0, 40, (30, 11)), torch.randint(0, 4, (30,))

        def work():
            for i in range(0, 30, 8):
                logits = model(ids[i:i + 8].transpose(0, 1))
                nn.functional.cross_entropy(logits, labels[i:i + 8]).backward()

        return model, work
    if name == "seq_first_hand_windows":
        model = _SeqFirstForecaster()
        series = torch.sin(torch.arange(0, 40, 0.5))
        windows = torch.stack([series[i:i + 10] for i in range(len(series) - 10)], dim=1).unsqueeze(-1)
        targets = torch.stack([series[i + 10] for i in range(len(series) - 10)]).unsqueeze(-1)

        def work():
            for i in range(0, windows.size(1), 16):
                nn.functional.mse_loss(model(windows[:, i:i + 16]), targets[i:i + 16]).backward()

        return model, work
    raise LookupError(name)


NAMES = ["bi_cat_last_two", "bi_view_layers", "bi_sum_directions", "bi_first_layer_both", "bi_permute_flatten",
         "bi_encoder_slice_to_decoder", "uni_stacked_minus_one", "seq_first_hand_batches", "seq_first_hand_windows"]
