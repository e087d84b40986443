"""ST015 variant (https://github.com/OpenNMT/OpenNMT-py/pull/126, "hidden state changed
from tuple to tensor"): an encoder/decoder pair whose encoder was switched to a GRU
while the decoder stayed an LSTM; the decoder is still handed the encoder's final state
as it comes, one (layers, batch, hidden) tensor. nn.LSTM unpacks its state as
``(h_0, c_0) = hx``, along dim 0: with 2 layers it takes (batch, hidden) tensors as
"h_0" and "c_0" and raises "For batched 3-D input, hx and cx should also be 3-D but
got (2-D, 2-D) tensors". Diagnosis: an LSTM given one state tensor where it takes the
pair. Fix: ``(h_n, torch.zeros_like(h_n))`` (or an
LSTM encoder)."""

import torch
from torch import nn
from variant_work import forward, run

VOCAB, EMB, HIDDEN, LAYERS = 30, 8, 16, 2


class Seq2Seq(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(VOCAB, EMB)
        self.encoder = nn.GRU(EMB, HIDDEN, num_layers=LAYERS, batch_first=True)
        self.decoder = nn.LSTM(EMB, HIDDEN, num_layers=LAYERS, batch_first=True)
        self.out = nn.Linear(HIDDEN, VOCAB)

    def forward(self, src, tgt):
        _, enc_final = self.encoder(self.embed(src))
        state = (enc_final, torch.zeros_like(enc_final)) if self.fixed else enc_final
        dec_out, _ = self.decoder(self.embed(tgt), state)  # culprit
        return self.out(dec_out)


def make(fixed=False):
    torch.manual_seed(0)
    model = Seq2Seq(fixed)
    return model, forward(model, torch.randint(0, VOCAB, (5, 9)), torch.randint(0, VOCAB, (5, 7)))


if __name__ == "__main__":
    run(make)
