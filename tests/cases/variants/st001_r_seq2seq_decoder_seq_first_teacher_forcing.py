"""ST001 variant: a toy translator, its GRU encoder batch_first=True but its decoder GRU left seq-first.

The class of case01 (batch_first mismatch, silent because batch == target length); the
decoder's input is built outside the model, from the DataLoader's batch.
Source and target ids come from the DataLoader as (batch, len). The encoder GRU is
batch_first=True and gives h_n (1, batch, hidden). The decoder GRU was written without
batch_first, so it reads the (batch, tgt_len, emb) teacher-forcing input as
(seq=batch, batch=tgt_len): it runs the recurrence across the 12 sentences of the batch,
and its h_0 (the encoder state, one row per sentence) is used as the state of the 12
target *positions*. It runs only because batch_size == tgt_len == 12.

Fix: nn.GRU(EMB, HID, batch_first=True) for the decoder.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

SRC_VOCAB, TGT_VOCAB, EMB, HID = 40, 45, 24, 48
SRC_LEN, TGT_LEN, BATCH = 13, 10, 10
BOS = 1


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(SRC_VOCAB, EMB)
        self.rnn = nn.GRU(EMB, HID, batch_first=True)

    def forward(self, src):
        _, hidden = self.rnn(self.embedding(src))
        return hidden  # (1, batch, HID)


class Decoder(nn.Module):
    def __init__(self, fixed):
        super().__init__()
        self.embedding = nn.Embedding(TGT_VOCAB, EMB)
        self.rnn = nn.GRU(EMB, HID, batch_first=True) if fixed else nn.GRU(EMB, HID)
        self.out = nn.Linear(HID, TGT_VOCAB)

    def forward(self, tgt_in, hidden):
        output, hidden = self.rnn(self.embedding(tgt_in), hidden)  # culprit
        return self.out(output), hidden


class Seq2Seq(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder(fixed)

    def forward(self, src, tgt_in):
        hidden = self.encoder(src)
        logits, _ = self.decoder(tgt_in, hidden)
        return logits


def make(fixed=False):
    torch.manual_seed(0)
    n = 40
    src = torch.randint(2, SRC_VOCAB, (n, SRC_LEN))
    tgt = torch.randint(2, TGT_VOCAB, (n, TGT_LEN))
    loader = DataLoader(TensorDataset(src, tgt), batch_size=BATCH, shuffle=True)
    model = Seq2Seq(fixed)
    criterion = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def work():
        for epoch in range(2):
            for src_b, tgt_b in loader:
                bos = torch.full((tgt_b.size(0), 1), BOS)
                tgt_in = torch.cat([bos, tgt_b[:, :-1]], dim=1)  # teacher forcing
                logits = model(src_b, tgt_in)
                loss = criterion(logits.reshape(-1, TGT_VOCAB), tgt_b.reshape(-1))
                opt.zero_grad()
                loss.backward()
                opt.step()
            print(f"epoch {epoch} loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
