"""A tiny BERT for sequence classification trained a few steps on synthetic ids."""

import torch
from transformers import BertConfig, BertForSequenceClassification

torch.manual_seed(0)
config = BertConfig(
    vocab_size=64,
    hidden_size=16,
    num_hidden_layers=4,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=32,
    num_labels=3,
)
model = BertForSequenceClassification(config)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
ids = torch.randint(0, 64, (6, 10))
labels = torch.randint(0, 3, (6,))
model.train()
for step in range(3):
    out = model(input_ids=ids[step * 2 : step * 2 + 2], labels=labels[step * 2 : step * 2 + 2])
    out.loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    print(f"step {step} loss {out.loss.item():.4f}")
