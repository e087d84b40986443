"""The Python API end to end, on the article's forecaster.

    python -m demos.api_tour
"""

import torch

import shapetrace
from demos.lstm_forecaster import LSTM


def main():
    torch.manual_seed(0)
    model = LSTM(input_size=1, hidden_size=64, num_layers=5, output_size=1, batch_size=5)
    input_seq = torch.randn(5, 30)  # (batch_size, seq_len)

    # 1. Trace one forward pass: module calls and the ops of your own code.
    with shapetrace.trace(model) as t:
        pred = model(input_seq)
    t.print()

    # 2. Query it.
    lstm = t["lstm"]
    print("lstm output:", lstm.outputs[0].shape, "contiguous:", lstm.outputs[0].contiguous)
    print("h_n:", lstm.output_at("1.0").shape, " linear in:", t["linear"].inputs[0].shape)
    view = next(op for op in t.ops if op.name == "view")
    print(f"first view: {view.outputs[0].shape} at {view.location.filename}:{view.location.lineno}")
    print("   ", view.location.code)

    # 3. Check shapes like a test would (names bind: B=5, T=30).
    bindings = shapetrace.assert_shapes(t, {"lstm": "B T 64", "linear": "(B*T) 1", "": "B 1"})
    print("assert_shapes bound", bindings)

    # 4. Save it, load it back: the loaded trace answers the same queries.
    loaded = shapetrace.load(t.to_json())
    assert loaded["lstm"].outputs[0].shape == (5, 30, 64)

    # 5. A failing forward keeps its exception type and gains shapetrace's note.
    try:
        with shapetrace.trace(model):
            model(torch.randn(3, 30))  # a short last batch: the article's view(5, 30, 1) breaks
    except RuntimeError as error:
        print("\n".join(error.__notes__))

    # 6. Symbolic dimensions, from runs at two batch sizes and two lengths.
    from demos.bidirectional_forecaster import BiLSTM

    symbolic = shapetrace.vary(BiLSTM(), lambda B, T: torch.randn(B, T, 7), B=(8, 3), T=(24, 11))
    print("BiLSTM output:", symbolic["lstm"].outputs[0].symbolic, " head:", symbolic["linear"].outputs[0].symbolic)
    return pred


if __name__ == "__main__":
    main()
