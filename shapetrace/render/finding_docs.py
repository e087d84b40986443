"""What each finding code means, for ``shapetrace explain CODE`` (as ``ruff rule``).

Each entry: why the bug matters, a wrong example and the right one. The
examples are the ``demos/bugs/`` scripts' bugs, cut down to the line.
"""

from __future__ import annotations

import dataclasses

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text


@dataclasses.dataclass(frozen=True)
class FindingDoc:
    why: str
    wrong: str
    right: str


DOCS: dict[str, FindingDoc] = {
    "ST001": FindingDoc(
        "An RNN (or nn.MultiheadAttention, nn.TransformerEncoder/Decoder(Layer), nn.Transformer) built "
        "with batch_first=False reads dim 0 as time. Fed (batch, time, features), it steps through (or "
        "attends over) the batch and treats time as the batch: nothing raises, the model trains, and each "
        "prediction mixes sequences. The evidence: input and target cut one step apart (seq[:, :-1] against "
        "seq[:, 1:]), a DataLoader's batch axis, the last step (or [CLS]) taken, a decoder fed the state, "
        "each on the axis the layer steps through; a key padding mask, (N, S) in both layouts, built from "
        "the batch-first tokens; a loss's batch (N) and a short last batch only together. Flipping the flag "
        "also takes remaking a state built for the old batch axis and moving out[-1] to out[:, -1].",
        "self.lstm = nn.LSTM(3, 64)                   # batch_first=False\nout, _ = self.lstm(x)  # x: (32, 24, 3)",
        "self.lstm = nn.LSTM(3, 64, batch_first=True)\nout, _ = self.lstm(x)  # x: (32, 24, 3)",
    ),
    "ST002": FindingDoc(
        "view/reshape keeps memory order: asking for (T, B, F) from a (B, T, F) tensor gives the right "
        "sizes with scrambled contents. Nothing raises; the model learns from shuffled data.",
        "x = x.view(seq_len, batch, -1)   # x: (batch, seq_len, features)",
        "x = x.transpose(0, 1)            # or x.permute(1, 0, 2)",
    ),
    "ST003": FindingDoc(
        "A size written as self.batch_size or a literal only fits that batch size. The short last batch "
        "of an epoch, or inference on one sample, raises or silently mixes samples.",
        "h_0 = torch.randn(layers, self.batch_size, hidden)\nx = x.view(self.batch_size, seq_len, 1)",
        "batch_size = x.size(0)\nh_0 = torch.randn(layers, batch_size, hidden)\nx = x.view(batch_size, seq_len, 1)",
    ),
    "ST004": FindingDoc(
        "A batch_first LSTM returns a transposed (non-contiguous) output; .view on it raises, or after "
        "a later change silently reads the wrong elements.",
        "output, _ = self.lstm(x)\noutput = output.view(-1, hidden)",
        "output, _ = self.lstm(x)\noutput = output.reshape(-1, hidden)   # or .contiguous().view(...)",
    ),
    "ST005": FindingDoc(
        "A loss of a (N, 1) prediction against a (N,) target broadcasts to (N, N): the loss is a number, "
        "training runs, and the model learns the mean. PyTorch only warns, and not at all for a loss "
        "written out by hand (((pred - y) ** 2).mean()), which is found the same way. A target the loop "
        "gave its channel in front (depth.unsqueeze(0): (1, B, H, W) against (B, 1, H, W)) meets the "
        "DataLoader's batch with itself: every prediction against every sample's target.",
        "loss = F.mse_loss(pred, y)   # pred: (N, 1), y: (N,)",
        "loss = F.mse_loss(pred.squeeze(1), y)   # or y.unsqueeze(1)",
    ),
    "ST006": FindingDoc(
        "The last time step of a bidirectional RNN's output holds the forward direction's final state "
        "but the backward direction's first step: half the features have seen one step. Its final state "
        "h_n is (num_layers * 2, batch, hidden), layer by layer, forward then backward: h_n[-1] is the last "
        "layer's backward direction alone, and h_n.view(2, num_layers, ...) splits it in the wrong order.",
        "out, _ = self.lstm(x)          # bidirectional=True\nlast = out[:, -1, :]",
        "out, (h_n, c_n) = self.lstm(x)\nlast = torch.cat([h_n[-2], h_n[-1]], dim=1)  # both final states",
    ),
    "ST007": FindingDoc(
        "h_0/c_0 must be (num_layers * num_directions, batch, hidden_size), even with batch_first=True. "
        "A wrong order raises, or with equal sizes silently uses the wrong state.",
        "h_0 = torch.zeros(batch, num_layers, hidden)",
        "h_0 = torch.zeros(num_layers * num_directions, batch, hidden)",
    ),
    "ST008": FindingDoc(
        "A tensor made inside forward without device= lives on the CPU while the model is on the GPU: "
        "the call raises on the first GPU run.",
        "h_0 = torch.zeros(layers, batch, hidden)",
        "h_0 = torch.zeros(layers, batch, hidden, device=x.device)",
    ),
    "ST009": FindingDoc(
        "NumPy data is float64; the model's weights are float32. The call raises, or an explicit "
        ".double() somewhere doubles the memory and time.",
        "x = torch.from_numpy(array)            # float64\npred = model(x)",
        "x = torch.from_numpy(array).float()    # float32, as the weights\npred = model(x)",
    ),
    "ST010": FindingDoc(
        "The input's feature dim does not match in_features / input_size / in_channels: a view or a "
        "missing unsqueeze put another axis last.",
        "self.lstm = nn.LSTM(1, 64, batch_first=True)\nout, _ = self.lstm(x)   # x: (B, T, 7)",
        "self.lstm = nn.LSTM(7, 64, batch_first=True)\nout, _ = self.lstm(x)   # x: (B, T, 7)",
    ),
    "ST011": FindingDoc(
        "shapetrace.vary found a call that runs at some input sizes only: data-dependent control flow, "
        "which breaks torch.compile/export and usually means a size test that meant something else.",
        "if x.size(0) == 8:       # a batch-size test\n    x = self.norm(x)",
        "x = self.norm(x)         # the same path for every batch size",
    ),
    "ST012": FindingDoc(
        "A view keeps memory order. Heads computed as (B * H, L, D) and viewed to (B, L, H * D) splice "
        "one head's values of several positions into each row: the sizes fit, nothing raises.",
        "attn = attn.view(b, length, embed)          # attn: (b * heads, length, head_dim)",
        "attn = attn.view(b, heads, length, head_dim).transpose(1, 2).reshape(b, length, embed)",
    ),
    "ST013": FindingDoc(
        "output[:, :, -1] of a batch_first RNN is the last hidden unit at every step, (batch, seq_len), "
        "not the last step. It runs whenever seq_len equals hidden_size. A pool over the same axis "
        "(output.mean(-1), max, sum, an einsum summing it) is the same mistake.",
        "last = output[:, :, -1]     # output: (batch, seq_len, hidden)",
        "last = output[:, -1, :]     # (batch, hidden)",
    ),
    "ST014": FindingDoc(
        "squeeze() without dims removes every size-1 axis, the batch too when a batch holds one sample "
        "(the last batch of an epoch): the next layer raises or broadcasts.",
        "x = torch.squeeze(self.pool(features))     # (batch, 48, 1, 1)",
        "x = self.pool(features).squeeze((2, 3))    # (batch, 48) for every batch size",
    ),
    "ST015": FindingDoc(
        "nn.LSTM takes its state as the pair (h_0, c_0); GRU and RNN take h_0 alone. Given one tensor, an "
        "LSTM unpacks it along dim 0 and raises an IndexError or a size error that names neither.",
        "h_0 = torch.zeros(1, x.size(0), hidden)\nout, _ = self.lstm(x, h_0)     # was nn.GRU",
        "h_0 = c_0 = torch.zeros(1, x.size(0), hidden)\nout, _ = self.lstm(x, (h_0, c_0))",
    ),
    "ST016": FindingDoc(
        "A dense prediction pooled or strided down (1/8 of the input) against a target at full "
        "resolution: the loss raises, or broadcasts a singleton dim and compares the wrong pixels. A "
        "resize given (width, height), F.interpolate(d, size=(w, h)), swaps the last two dims instead.",
        "loss = criterion(model(img), density)       # (2, 1, 16, 16) vs (2, 1, 128, 128)",
        "density = F.avg_pool2d(density, 8) * 64     # pooled as the model is, the count kept\n"
        "loss = criterion(model(img), density)",
    ),
    "ST017": FindingDoc(
        "A positional table written for seq-first data ((max_len, 1, d_model), cut with x.size(0)) "
        "added to batch-first x (batch, seq_len, d_model): it is cut to the batch size and broadcast "
        "over time, so each sample gets one position's code at every step. It runs while batch <= max_len.",
        "x = x + self.pe[:x.size(0)]     # pe: (max_len, 1, d_model); x: (batch, seq_len, d_model)",
        "x = x + self.pe[:x.size(1)].transpose(0, 1)     # (1, seq_len, d_model): along time",
    ),
    "ST018": FindingDoc(
        "F.cross_entropy and F.nll_loss take the class scores in dim 1, (N, C) or (N, C, d1, ...), with "
        "targets (N, d1, ...). A tagger's or language model's Linear gives (batch, time, classes): "
        "PyTorch reads time as the classes and raises 'Expected target size', or, when time == classes, "
        "trains on scores read across time.",
        "scores = self.tag_scores(out)          # (batch, time, tags)\nloss = F.cross_entropy(scores, tags)",
        "loss = F.cross_entropy(scores.transpose(1, 2), tags)   # or scores.reshape(-1, tags), tags.reshape(-1)",
    ),
    "ST019": FindingDoc(
        "A softmax along the batch axis normalises each class (or time step) over the samples of the "
        "batch: every sample's probabilities or attention weights then depend on the others batched with "
        "it. nn.Softmax(dim=0) on (batch, classes), softmax(scores, dim=0) on (batch, time) scores, and "
        "F.softmax(x) without a dim on a 3-d input (PyTorch picks dim 0) all run. A mean/sum/max over "
        "the batch axis of a batch-first output does the same where the time steps were meant, and "
        "f.mean(0) on a CNN's (batch, C, H, W) map where the spatial mean f.mean((2, 3)) was. Weights "
        "over the batch that a product then sums over another axis (ST021's mistake as well) are one "
        "finding, an error, whose help names the axis summed.",
        "weights = torch.softmax(scores, dim=0)   # scores: (batch, time)\npooled = out.mean(dim=0)",
        "weights = torch.softmax(scores, dim=1)   # over each sample's time steps\npooled = out.mean(dim=1)",
    ),
    "ST020": FindingDoc(
        "torch.chunk/split of an axis that the world size does not divide gives the ranks pieces of "
        "different sizes; the next collective (all_gather, all_reduce) hangs, aborts or raises on one rank.",
        "mine = torch.chunk(x, world, dim=1)[rank]   # x: (2, 7, 16), two ranks: 4 and 3 steps",
        "x = F.pad(x, (0, 0, 0, (-x.size(1)) % world))   # 7 -> 8 steps\nmine = torch.chunk(x, world, dim=1)[rank]",
    ),
    "ST021": FindingDoc(
        "Attention weights must sum to 1 over the keys, the dim that weights @ v sums over (their last), "
        "or the index torch.einsum('bhij,bhjd->bhid', weights, v) sums (j). A softmax left at dim=1 after "
        "the scores became (batch, heads, queries, keys) normalises over the heads; dim=-2 over the "
        "queries. Attention pooling by hand, (w.unsqueeze(-1) * h).sum(1), needs w normalised over the "
        "summed time steps, not the features or the batch; a softmax over a dim of size 1, such as "
        "(batch, time, 1) scores at dim=-1, gives weights that are all 1. It runs whenever the sizes allow "
        "the product, and each output is then a weighted sum whose weights do not add up to 1. Over a "
        "batch axis, ST019 reports it. Routing and soft assignment keep the normalised axis on purpose "
        "(capsule couplings over the output capsules, NetVLAD's over the clusters) and are left alone.",
        "weights = torch.softmax(scores, dim=1)   # scores: (batch, heads, queries, keys)\n"
        "out = torch.einsum('bhij,bhjd->bhid', weights, v)",
        "weights = torch.softmax(scores, dim=-1)  # over the keys, j\n"
        "out = torch.einsum('bhij,bhjd->bhid', weights, v)",
    ),
    "ST022": FindingDoc(
        "An encoder-decoder (U-Net, hourglass, FPN) joins each feature map it saved with one that went "
        "down and came back up. Downsampling by 2 rounds an odd size (MaxPool2d(2) takes 25 to 12; a "
        "3 x 3 convolution of stride 2 and padding 1 takes 25 to 13), so the way back up gives 24 or 26 "
        "and torch.cat or the residual add raises, naming neither the layer that rounded nor the rule: "
        "the model keeps its sizes only for inputs that are multiples of its downsampling factors.",
        "d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))   # 50 x 50 input: 24 against 25",
        "up = F.interpolate(self.up2(b), size=e2.shape[2:])   # or pad the input to a multiple of 4\n"
        "d2 = self.dec2(torch.cat([up, e2], dim=1))",
    ),
    "ST023": FindingDoc(
        "F.cross_entropy and F.nll_loss take class indices (N,) (or (N, d1, ...)) with scores (N, C, ...). "
        "A Dataset that returns each label as a 1-element tensor makes batches of (N, 1) labels ('multi-target "
        "not supported'); F.one_hot in the Dataset makes integer (N, C) targets ('Expected floating point type "
        "for target'); samples kept as (1, F) rows and stacked make scores (N, 1, C). PyTorch raises at the "
        "loss, far from the line that made the labels. Shapes that fit can still pair scores with other "
        "labels: (T, B, C) logits flattened against (B, T) tags flattened, or F.one_hot probabilities "
        "(B, T, C) against (B, C, T) scores.",
        "label = torch.tensor([self.y[i]])   # in Dataset.__getitem__: a (1,) label",
        "label = torch.tensor(self.y[i])     # a 0-d class index; batches of labels are (N,)",
    ),
    "ST024": FindingDoc(
        "nn.Module registers a layer assigned as an attribute, or held in nn.ModuleList, nn.ModuleDict or "
        "nn.Sequential; a plain list, tuple or dict registers nothing, nor does a layer built in forward(). "
        "The layer runs and every shape is right, but model.parameters() leaves its weights out: the "
        "optimizer never updates them, model.to(device) does not move them (a device mismatch on the GPU), "
        "state_dict() does not save them and train()/eval() do not switch them. Built in forward(), its "
        "weights are also initialized anew at every call.",
        "self.layers = [nn.Linear(64, 64) for _ in range(3)]   # a plain list: never trained",
        "self.layers = nn.ModuleList([nn.Linear(64, 64) for _ in range(3)])",
    ),
    "ST025": FindingDoc(
        "nn.MultiheadAttention takes a 3-D attn_mask as (N * num_heads, L, S) and reads row b * num_heads + h "
        "as sample b's mask for head h; F.scaled_dot_product_attention broadcasts a (N, heads, L, S) mask. "
        "mask.repeat(num_heads, 1, 1) copies the whole batch num_heads times (row h * N + b), so each sample's "
        "heads are masked with other samples' padding: the shapes fit and nothing raises, and the model "
        "attends to padding and misses real tokens.",
        "attn_mask = mask.repeat(num_heads, 1, 1)   # (N, L, S) -> (num_heads * N, L, S), head-major",
        "attn_mask = mask.repeat_interleave(num_heads, dim=0)   # row b * num_heads + h, as PyTorch reads it",
    ),
    "ST026": FindingDoc(
        "F.scaled_dot_product_attention takes (N, ..., L, E) and attends over dim -2. Heads split off the "
        "features with q.view(B, T, n_head, head_dim) are (B, T, heads, head_dim) until .transpose(1, 2): "
        "given as they are, the attention runs over each token's heads and no token sees another. The "
        "output keeps the shape, the view merging the heads fits, and nothing raises.",
        "y = F.scaled_dot_product_attention(q, k, v)       # q: (B, T, n_head, head_dim)\ny = y.reshape(B, T, C)",
        "q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)   # (B, n_head, T, head_dim)\n"
        "y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, C)",
    ),
    "ST027": FindingDoc(
        "An RNN run on a PackedSequence stops each sequence at its own length; pad_packed_sequence pads "
        "its output back to the longest with zeros. Its last column, padded[:, -1], is the last step of the "
        "longest sequences only: every shorter one gives zeros, and nothing raises. Found in a batch of "
        "full-length sequences too, where the column is right for that batch only.",
        "padded, _ = pad_packed_sequence(out, batch_first=True)\nlast = padded[:, -1, :]",
        "last = padded[torch.arange(padded.size(0)), lengths - 1]   # or h_n[-1]",
    ),
    "ST028": FindingDoc(
        "A (B, S) padding mask made 4-D for (B, heads, L, S) scores is mask[:, None, None, :]. Written "
        "mask[:, None, :, None], (B, 1, L, 1), it lies along the queries: added to the scores it shifts each "
        "query's row by a constant, which the softmax over the keys cancels, so padded keys are still "
        "attended. Self-attention has L == S: nothing raises.",
        "extended = attention_mask[:, None, :, None]          # (B, 1, L, 1)",
        "extended = attention_mask[:, None, None, :]          # (B, 1, 1, S): one value per key",
    ),
    "ST029": FindingDoc(
        "Broadcasting aligns an attention mask with the (B, heads, L, S) scores from the right, whatever "
        "its axes are. A per-sample padding mask made (B, 1, S) reads as (1, B, 1, S): sample b's padding "
        "masks head b of every sample. F.scaled_dot_product_attention broadcasts attn_mask the same way. "
        "With as many samples as heads, nothing raises. A key_padding_mask is (N, S) in both layouts: "
        "one built (S, N) from the lengths runs when N == S, each sample masked by the others' lengths.",
        "attn_mask = (tokens != PAD)[:, None, :]             # (B, 1, S): its samples on the heads",
        "attn_mask = (tokens != PAD)[:, None, None, :]       # (B, 1, 1, S): one row per sample",
    ),
}


def explain(code: str) -> RenderableType:
    """The documentation of one finding code; ``KeyError`` for an unknown code."""
    from shapetrace.analyze.checks import load_detectors

    info = load_detectors()[code.upper()]
    parts: list[RenderableType] = [
        Text.assemble((info.code, "bold"), " ", (info.name, "bold cyan"), f" ({info.severity})"),
        Text(""),
        Text.assemble(("What it finds: ", "bold"), info.summary),
    ]
    doc = DOCS.get(info.code)
    if doc is not None:
        parts += [
            Text(""),
            Text.assemble(("Why it matters: ", "bold"), doc.why),
            Text(""),
            Text("Wrong:", "bold red"),
            _code(doc.wrong),
            Text("Right:", "bold green"),
            _code(doc.right),
        ]
    parts += [
        Text(""),
        Text(f'Silence it with --ignore {info.code}, or shapetrace.trace(model, ignore=["{info.code}"]).', "dim"),
    ]
    return Group(*parts)


def _code(text: str) -> Text:
    """An example, highlighted and indented by two. Not a ``Syntax`` block: rich pads one
    to a common width, which leaves lines trailing blanks in a pipe."""
    highlighted = Syntax(text, "python", theme="ansi_dark", background_color="default").highlight(text)
    highlighted.rstrip()
    indented = Text()
    for number, line in enumerate(highlighted.split("\n")):
        indented.append("\n" if number else "")
        indented.append_text(Text.assemble("  ", line))
    return indented
