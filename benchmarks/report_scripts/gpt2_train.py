"""A tiny Hugging Face GPT-2 trained a few steps on synthetic token ids, then generate."""

import torch
from transformers import GPT2Config, GPT2LMHeadModel

torch.manual_seed(0)
config = GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=4, n_head=2)
model = GPT2LMHeadModel(config)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
data = torch.randint(0, 64, (8, 12))
model.train()
for step in range(3):
    batch = data[step * 2 : step * 2 + 2]
    out = model(input_ids=batch, labels=batch)
    out.loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    print(f"step {step} loss {out.loss.item():.4f}")
model.eval()
generated = model.generate(data[:1, :4], max_new_tokens=3, do_sample=False, pad_token_id=0)
print("generated", generated.shape)
