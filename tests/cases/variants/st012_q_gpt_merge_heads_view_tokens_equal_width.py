"""ST012 variant: a GPT-2-style attention whose ``_merge_heads`` views the heads' output
(B, H, T, D) as (B, T, H * D) with ``tensor.size(2)`` for T but no permute back to
(B, T, H, D). Tokens == width == 16, so the sizes alone cannot tell T from H * D; the size
read off the tensor (``tensor.size(2)``) names the axis. The fix:
``tensor.permute(0, 2, 1, 3).contiguous().view(B, T, H * D)``."""

import torch
from torch import nn
from variant_work import run


class GPTStyleAttention(nn.Module):
    def __init__(self, n_embd=16, n_head=4, n_positions=32, fixed=False):
        super().__init__()
        self.num_heads, self.head_dim, self.fixed = n_head, n_embd // n_head, fixed
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.register_buffer("bias", torch.tril(torch.ones(n_positions, n_positions, dtype=torch.bool)))

    def _split_heads(self, tensor, num_heads, attn_head_size):
        new_shape = (*tensor.size()[:-1], num_heads, attn_head_size)
        return tensor.view(new_shape).permute(0, 2, 1, 3)  # (B, H, T, D)

    def _merge_heads(self, tensor, num_heads, attn_head_size):
        if self.fixed:
            tensor = tensor.permute(0, 2, 1, 3).contiguous()
            return tensor.view(tensor.size(0), tensor.size(1), num_heads * attn_head_size)
        return tensor.contiguous().view(tensor.size(0), tensor.size(2), num_heads * attn_head_size)  # culprit

    def _attn(self, query, key, value):
        w = torch.matmul(query, key.transpose(-1, -2)) / self.head_dim ** 0.5
        t = query.size(-2)
        w = w.masked_fill(~self.bias[:t, :t], torch.finfo(w.dtype).min)
        return torch.matmul(w.softmax(dim=-1), value)

    def forward(self, hidden_states):
        query, key, value = self.c_attn(hidden_states).split(self.num_heads * self.head_dim, dim=2)
        query = self._split_heads(query, self.num_heads, self.head_dim)
        key = self._split_heads(key, self.num_heads, self.head_dim)
        value = self._split_heads(value, self.num_heads, self.head_dim)
        attn_output = self._attn(query, key, value)
        attn_output = self._merge_heads(attn_output, self.num_heads, self.head_dim)
        return self.c_proj(attn_output)


def make(fixed=False):
    torch.manual_seed(0)
    model = GPTStyleAttention(fixed=fixed)

    def work():
        x = torch.randn(2, 16, 16)  # batch 2, 16 tokens, 16 channels
        y = model(x)
        y.mean().backward()
        print(y.shape)

    return model, work


if __name__ == "__main__":
    run(make)
