"""ST001 on encoder/decoder transformers whose source and target have one length, so that
batch-first data into seq-first layers runs without a word (tests/models/encoder_decoder_models.py):
nn.Transformer's ``tgt`` counts for the layer (``_layout_pairs.py``), and an encoder whose
output is a decoder's memory is flagged with the decoder, through ``shapetrace.trace`` and
``shapetrace run --fail-on warning``; the same models seq-first on purpose and the fixed
ones are clean; every help applied gives the fixed model."""

from __future__ import annotations

from pathlib import Path

import pytest

import shapetrace
from tests.case_support import load_file, run_script, serious
from tests.models import encoder_decoder_models as variants
from tests.test_attention_layout import _outputs, _same, apply_flag_help

pytestmark = pytest.mark.filterwarnings("ignore")
SCRIPT = Path(variants.__file__)
# The lines calling each layer, by the variant: every one must be flagged.
LAYERS = {"transformer_shifted_tgt": ("self.transformer(",),
          "encoder_decoder_shifted_tgt": ("self.encoder(", "self.decoder(")}


def traced_variant(name: str, fixed: bool = False) -> shapetrace.Trace:
    model, work = variants.make(name, fixed)
    with shapetrace.trace(model) as t:
        work()
    return t


def lines_calling(calls: tuple[str, ...]) -> set[int]:
    source = SCRIPT.read_text().splitlines()
    return {n for n, line in enumerate(source, 1) if any(call in line for call in calls)}


def st001_lines(trace: shapetrace.Trace) -> set[int]:
    return {f.location.lineno for f in serious(trace) if f.code == "ST001" and f.location is not None}


@pytest.mark.parametrize("name", variants.BUGGY)
def test_every_layer_left_seq_first_is_found(name):
    wanted = lines_calling(LAYERS[name])
    t = traced_variant(name)
    assert t.error is None and st001_lines(t) == wanted, [(f.code, f.message) for f in t.findings]
    done = run_script(SCRIPT, name)
    assert done.exit_code == 1 and st001_lines(done.trace) == wanted, done.output


def test_the_transformer_is_found_by_its_tgt():
    [found] = [f for f in traced_variant("transformer_shifted_tgt").findings if f.code == "ST001"]
    assert ("but on its tgt (4, 6, 16), tgt[:, :-1] and tgt[:, 1:] at line 73 cut input and target one step "
            "apart along the axis it takes as the batch: that axis is time") in found.message
    assert found.hint == "build it with nn.Transformer(..., batch_first=True)"


def test_the_encoder_is_found_through_the_memory_the_decoder_reads():
    found = {f.location.lineno: f for f in traced_variant("encoder_decoder_shifted_tgt").findings}
    [encoder] = [found[n] for n in lines_calling(("self.encoder(",))]
    assert ("its output is the memory of decoder (TransformerDecoder, batch_first=False) at line 54, read with "
            "the same batch axis, and there tgt[:, :-1] and tgt[:, 1:] at line 73") in encoder.message


@pytest.mark.parametrize("name", variants.BUGGY)
def test_fixed_variant_is_clean(name):
    t = traced_variant(name, fixed=True)
    assert t.error is None and t.findings == [], [(f.code, f.message) for f in t.findings]
    done = run_script(SCRIPT, name, "--fixed")
    assert done.exit_code == 0 and done.trace.findings == [], done.output


@pytest.mark.parametrize("name", variants.CORRECT)
def test_seq_first_on_purpose_is_clean(name):
    t = traced_variant(name)
    assert t.error is None and t.findings == [], [(f.code, f.message) for f in t.findings]
    done = run_script(SCRIPT, name)
    assert done.exit_code == 0 and done.trace.findings == [], done.output


@pytest.mark.parametrize("name", variants.BUGGY)
def test_every_help_applied_gives_the_fixed_model(name, tmp_path):
    patched = tmp_path / "helped_encoder_decoder_models.py"
    patched.write_text(SCRIPT.read_text())
    for found in [f for f in serious(traced_variant(name)) if f.code == "ST001"]:
        patched.write_text(apply_flag_help(patched, found))
    module = load_file(patched)
    _same(_outputs(module, name, False), _outputs(variants, name, True))
    model, work = module.make(name, False)
    with shapetrace.trace(model) as t:
        work()
    assert t.findings == [], patched.read_text()
