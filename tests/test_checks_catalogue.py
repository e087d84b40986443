"""The findings catalogue as a whole: registry, gallery, correct models, JSON, ignore."""

from __future__ import annotations

import re

import pytest

import shapetrace
from shapetrace.analyze.checks import REGISTRY, load_detectors
from shapetrace.cli.app import main
from shapetrace.record.script import ScriptRun, run_script
from tests.check_support import BUGS, codes, traced
from tests.models import attention_layout_models as attention
from tests.models import axis_models as axis
from tests.models import buggy_models as buggy
from tests.models import correct_models as correct
from tests.models import dist_models, skip_models

pytestmark = pytest.mark.filterwarnings("ignore:Using a target size")

# For every code: a model that triggers it, and a close one that must not.
EXAMPLES = {
    "ST001": (buggy.batch_first_data_by_hidden_size, correct.seq_first_gru_with_state),
    "ST002": (buggy.merged_split_back, correct.seed_from_data),
    "ST003": (buggy.literal_batch, correct.seed_from_data),
    "ST004": (buggy.view_merging_non_contiguous, buggy.view_splitting_non_contiguous),
    "ST005": (buggy.functional_loss_broadcast, correct.training_step),
    "ST006": (buggy.seq_first_bidirectional_last_step, buggy.forward_half_last_step),
    "ST007": (buggy.batch_first_hidden_state, correct.seed_from_data),
    "ST008": (buggy.mixed_devices, correct.conv_forecaster),
    "ST009": (buggy.float_tokens, correct.text_transformer),
    "ST010": (buggy.channels_last_conv, correct.conv_forecaster),
    "ST011": (buggy.length_router_varied, correct.seed_from_data_varied),
    "ST012": (axis.video_folded_by_view, axis.conv_2plus1d),
    "ST013": (axis.last_hidden_unit, axis.language_model),
    "ST014": (axis.squeeze_all_last_batch_of_one, axis.squeeze_explicit_last_batch_of_one),
    "ST020": (dist_models.uneven_sequence_shard, dist_models.padded_sequence_shard),
    "ST015": (buggy.lstm_given_one_state, correct.lstm_with_state),
    "ST016": (buggy.density_at_full_size, correct.pooled_density),
    "ST017": (attention.table_on_batch_example, attention.table_on_time_example),
    "ST018": (buggy.tagger_classes_last, correct.tagger_classes_in_dim_1),
    "ST019": (buggy.attention_pooling_over_batch, correct.attention_pooling_over_time),
    "ST021": (buggy.attention_softmax_over_heads, correct.attention_softmax_over_keys),
    "ST022": (skip_models.unet_at_odd_size, skip_models.unet_at_multiple_of_four),
    "ST023": (buggy.labels_as_a_column, correct.labels_as_indices),
    "ST024": (buggy.layers_in_a_plain_list, correct.layers_in_a_module_list),
    "ST025": (attention.mask_repeated_head_major, attention.mask_repeated_batch_major),
    "ST026": (attention.heads_not_transposed, attention.heads_transposed),
    "ST027": (axis.packed_padded_last_column, axis.packed_final_state),
    "ST028": (attention.mask_on_queries, attention.mask_on_keys),
    "ST029": (attention.mask_on_heads, attention.mask_on_samples),
}
DEMOS = {
    "ST001": "st001_batch_first.py",
    "ST002": "st002_view_scramble.py",
    "ST003": "st003_hardcoded_batch.py",
    "ST004": "st004_noncontiguous_view.py",
    "ST005": "st005_loss_broadcast.py",
    "ST006": "st006_bidirectional_last_step.py",
    "ST007": "st007_hidden_state.py",
    "ST008": "st008_device.py",
    "ST009": "st009_dtype.py",
    "ST010": "st010_feature_mismatch.py",
    "ST011": "st011_size_dependent.py",
    "ST012": "st012_view_cuts_axes.py",
    "ST013": "st013_index_wrong_axis.py",
    "ST014": "st014_squeeze_drops_batch.py",
    "ST020": "st020_uneven_shard.py",
    "ST015": "st015_recurrent_state.py",
    "ST016": "st016_loss_resolution.py",
    "ST017": "st017_positional_table.py",
    "ST018": "st018_class_scores_last.py",
    "ST019": "st019_over_batch_axis.py",
    "ST021": "st021_softmax_not_summed_axis.py",
    "ST022": "st022_skip_size_mismatch.py",
    "ST023": "st023_class_target_layout.py",
    "ST024": "st024_unregistered_layer.py",
    "ST025": "st025_mask_head_order.py",
    "ST026": "st026_attention_over_heads.py",
    "ST027": "st027_padded_last_step.py",
    "ST028": "st028_mask_on_queries.py",
    "ST029": "st029_mask_on_heads.py",
}
# Demos that need ranks: run under torchrun by tests/test_distributed.py.
TORCHRUN_DEMOS = {"ST020"}
# Codes found by running a model at several sizes: their demo is a factory for --vary.
VARIED_DEMOS = {"ST011": ["demos.bugs.st011_size_dependent:LengthRouter", "--input", "BxTx4",
                          "--vary", "B=8,3", "--vary", "T=48,12"]}


def test_every_code_has_a_summary_a_trigger_and_a_non_trigger():
    registry = load_detectors()
    assert all(re.fullmatch(r"ST\d{3}", code) for code in registry)
    # ST020 was taken above the codes other issues were claiming at the time; ST019 has filled the gap.
    numbers = sorted(int(code[2:]) for code in registry)
    assert numbers == list(range(1, len(numbers) + 1)) and "ST020" in registry
    assert set(EXAMPLES) == set(registry) == set(DEMOS)
    for code, info in registry.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", info.name), code
        assert info.summary and info.severity in ("error", "warning", "info")


@pytest.mark.parametrize("code", sorted(EXAMPLES))
def test_trigger_and_non_trigger(code):
    trigger, non_trigger = EXAMPLES[code]
    assert code in codes(as_trace(trigger()))
    assert code not in codes(as_trace(non_trigger()))


def as_trace(example):
    """Examples are (model, inputs) to trace once, or a trace already taken at several sizes."""
    return example if isinstance(example, shapetrace.Trace) else traced(example)


@pytest.mark.parametrize("code", sorted(DEMOS))
def test_demo_triggers_its_code(code, tmp_path):
    if code in TORCHRUN_DEMOS:
        pytest.skip("a torchrun script: tests/test_distributed.py runs it on two ranks")
    if code in VARIED_DEMOS:
        saved = tmp_path / "varied.json"
        assert main(["run", *VARIED_DEMOS[code], "-o", str(saved)]) == 0
        run = ScriptRun(shapetrace.load(saved), 0, None)
    else:
        run = run_script(str(BUGS / DEMOS[code]))
    found = [f for f in run.trace.findings if f.code == code]
    assert found, run.trace.findings
    finding = found[0]
    assert finding.name == REGISTRY[code].name
    assert finding.location is not None and finding.location.filename.endswith(DEMOS[code])
    assert finding.call_id is not None and finding.hint
    if run.error is not None:  # PyTorch raised: the note names the finding that explains it
        note = "\n".join(getattr(run.error, "__notes__", []))
        assert "explained by" in note and code in note.split("explained by", 1)[1]


@pytest.mark.parametrize("name", sorted(correct.CORRECT))
def test_correct_models_have_no_findings(name):
    trace = traced(correct.CORRECT[name]())
    assert trace.error is None
    if name == "seed_forecaster":
        # The article bakes self.batch_size into h_0 and its views: true, and only a warning.
        assert [(f.code, f.severity) for f in trace.findings] == [("ST003", "warning")]
    else:
        assert trace.findings == []


def test_seed_demo_has_none_of_the_layout_findings():
    run = run_script(str(BUGS.parent / "lstm_forecaster.py"))
    assert run.exit_code == 0
    assert codes(run.trace) == {"ST003"}


@pytest.mark.parametrize("factory", [buggy.batch_first_data_by_hidden_size, buggy.merged_split_back,
                                     buggy.fixed_state_short_batch, buggy.seq_first_bidirectional_last_step])
def test_a_trace_loaded_from_json_gives_the_same_findings(factory):
    trace = traced(factory())
    loaded = shapetrace.load(trace.to_json())
    assert trace.findings
    assert loaded.findings == trace.findings


def test_ignore_silences_codes():
    trace = traced(buggy.seq_first_bidirectional_last_step(), ignore=["ST006"])
    assert "ST006" not in codes(trace)
    assert "ST006" in codes(traced(buggy.seq_first_bidirectional_last_step()))


def test_a_finding_is_reported_once_per_line_however_many_passes():
    model, (x,) = buggy.seq_first_bidirectional_last_step()
    with shapetrace.trace(model) as t:
        model(x)
        model(x[:, :2])
    assert [f.code for f in t.findings] == ["ST006"]
