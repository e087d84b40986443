"""What a loss is made of, by the names the op mode records: the ops of a loss
written out by hand, and what ``shapetrace run`` records after a forward pass."""

from __future__ import annotations

from shapetrace.core.torch_facts import LOSS_OPS, PASS_THROUGH_OPS, RESHAPE_OPS

# A loss written out by hand (``((pred - y) ** 2).mean()``, ``-(y * p.log()).mean()``):
# the comparison of two tensors (LOSS_ARITHMETIC_OPS, by the names the op mode
# records: ``a - b`` runs ``Tensor.sub``), elementwise steps that keep its shape,
# and the reduction to one number. Recorded after a forward pass as LOSS_OPS are.
LOSS_ARITHMETIC_OPS = frozenset(
    {"sub", "__sub__", "subtract", "add", "__add__", "mul", "__mul__", "multiply"}
    | {"div", "__truediv__", "true_divide", "divide"}
)
LOSS_STEP_OPS = LOSS_ARITHMETIC_OPS | frozenset(
    {"__rsub__", "rsub", "__radd__", "__rmul__", "__rtruediv__", "pow", "__pow__", "square", "abs", "absolute"}
    | {"sqrt", "neg", "__neg__", "negative", "exp", "log", "log1p", "clamp", "clamp_min", "clip", "relu"}
    | {"sigmoid", "softplus", "where"}
)
SCALAR_REDUCTION_OPS = frozenset({"mean", "sum", "nanmean", "nansum", "norm", "vector_norm"})
# Scores turned into probabilities on the way to a loss (``torch.log(torch.softmax(out, 1))``
# into NLL): recorded after a pass so that their dim can be checked (ST019).
NORMALIZE_OPS = frozenset({"softmax", "log_softmax", "softmin"})
# Comparisons of two tensors vector by vector along a dim, broadcasting the others:
# a loss made of them (``1 - F.cosine_similarity(pred, y).mean()``) compares as one.
SIMILARITY_OPS = frozenset({"cosine_similarity", "pairwise_distance"})
# What the op mode records after a forward pass where it records no other op
# outside the model (``shapetrace run``): the loss, by function or by hand, and
# what reshapes or converts the output on its way there (``pred.view(-1, 1)``).
LOSS_WINDOW_OPS = (
    LOSS_OPS
    | LOSS_STEP_OPS
    | NORMALIZE_OPS
    | SCALAR_REDUCTION_OPS
    | SIMILARITY_OPS
    | RESHAPE_OPS
    | PASS_THROUGH_OPS
    | {"__getitem__"}
)
