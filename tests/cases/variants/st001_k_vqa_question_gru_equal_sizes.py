"""ST001 variant (https://github.com/Cadene/vqa.pytorch/issues/40): a VQA model encodes
the question with a GRU fed (batch, seq_len, embedding) while the GRU keeps the default
``batch_first=False``, as the report points out. Its summary ``h_n[-1]`` is then one
vector per *word position*, (seq_len, hidden), which is fused with the (batch, hidden)
image features by an element-wise product. Questions padded to 10 tokens in batches
of 10: the shapes agree and nothing raises, but each question vector mixes the 10
questions of the batch. Fix: ``nn.GRU(..., batch_first=True)``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

WORDS, EMB, HIDDEN, ANSWERS, LENGTH = 50, 12, 16, 7, 10


class VQA(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.embed = nn.Embedding(WORDS, EMB)
        self.question = nn.GRU(EMB, HIDDEN, batch_first=fixed)
        self.image = nn.Linear(32, HIDDEN)
        self.answer = nn.Linear(HIDDEN, ANSWERS)

    def forward(self, question, image):
        _, h_n = self.question(self.embed(question))  # culprit
        fused = torch.tanh(h_n[-1]) * torch.tanh(self.image(image))
        return self.answer(fused)


def make(fixed=False):
    torch.manual_seed(0)
    model = VQA(fixed)
    data = TensorDataset(torch.randint(0, WORDS, (30, LENGTH)), torch.randn(30, 32),
                         torch.randint(0, ANSWERS, (30,)))
    loader = DataLoader(data, batch_size=10)

    def work():
        for question, image, answer in loader:
            loss = nn.functional.cross_entropy(model(question, image), answer)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
