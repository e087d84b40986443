"""A small neuralforecast script: an LSTM and an NHITS fitted on synthetic
series through NeuralForecast (Lightning underneath), then a forecast."""

import argparse
import logging
import os

import numpy as np
import pandas as pd

os.environ.setdefault("PYTORCH_LIGHTNING_DISABLE_PROGRESS_BAR", "1")
for name in ("lightning_fabric", "pytorch_lightning", "lightning"):
    logging.getLogger(name).setLevel(logging.ERROR)

from neuralforecast import NeuralForecast  # noqa: E402
from neuralforecast.models import LSTM, NHITS  # noqa: E402


def series(count=2, length=48):
    rng = np.random.default_rng(0)
    frames = []
    for i in range(count):
        ds = pd.date_range("2024-01-01", periods=length, freq="D")
        y = np.sin(np.arange(length) / 4 + i) + rng.normal(0, 0.1, length)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (forked)")
    workers = parser.parse_args().workers
    loading = dict(num_workers=workers, multiprocessing_context="fork") if workers else {}
    common = dict(h=4, input_size=12, max_steps=2, enable_progress_bar=False, enable_model_summary=False,
                  logger=False, enable_checkpointing=False, accelerator="cpu", dataloader_kwargs=loading)
    models = [LSTM(encoder_hidden_size=16, decoder_hidden_size=16, **common),
              NHITS(mlp_units=[[16, 16]] * 3, **common)]
    nf = NeuralForecast(models=models, freq="D")
    nf.fit(series())
    forecast = nf.predict()
    print(forecast.shape)


if __name__ == "__main__":
    main()
