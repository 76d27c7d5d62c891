"""`benchmarks/bert_speed.py --quick` runs end to end on a tiny random BERT and made-up texts."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ["-m", "benchmarks.bert_speed"]  # run from ROOT


def test_bert_speed_quick(tmp_path):
    out = tmp_path / "bert_speed"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, *SCRIPT, "--quick", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)  # a hang guard, not a speed check
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    report = json.loads((tmp_path / "bert_speed.json").read_text())
    markdown = (tmp_path / "bert_speed.md").read_text()
    assert report["quick"] and report["data"]["annotate_data"] == "synthetic"
    assert report["commit"] and report["machine"]["cpu_count"] >= 1 and report["versions"]["tensorflow"]
    assert isinstance(report["gpu_visible"], bool) and report["gpu_visible"] == bool(report["gpus"])
    assert report["matmul_peak_gflops"] > 0
    assert report["data"]["n_test"] == 160 and report["data"]["n_train"] == 64

    rows = {row["name"]: row for row in report["configs"]}
    expected = {"annotate-baseline-fp32", "annotate-ours-fp32", "annotate-ours-fp32-xla", "annotate-ours-bf16",
                "annotate-ours-bf16-xla", "train-fixed-fp32", "train-dynamic-fp32", "train-dynamic-fp32-xla",
                "train-dynamic-bf16", "train-dynamic-bf16-xla"}
    assert expected <= set(rows)
    # The float32 reference rows must run; a variant may fail, but then says why in its cell.
    for name in ("annotate-baseline-fp32", "annotate-ours-fp32", "train-fixed-fp32", "train-dynamic-fp32"):
        assert "error" not in rows[name], rows[name]
    for row in rows.values():
        if "error" in row:
            assert row["error"] and f"failed: {row['error']}".replace("|", "/") in markdown.replace("|", "/")
            continue
        assert row["texts_per_s"] > 0 and row["peak_rss_mb"] > 0 and row["warmup_s"] > 0
        assert row["fraction_of_peak"] > 0 and row["finite"]
        assert row["texts_per_s_to_last_batch"] >= row["texts_per_s"] * 0.999
        assert all(t is None or t >= 0 for t in row["after_last_batch_s"])
        assert 0 < row["avg_padded_width"] <= 128

    base, ours = rows["annotate-baseline-fp32"], rows["annotate-ours-fp32"]
    assert base["avg_padded_width"] == 128 and ours["avg_padded_width"] < 128
    assert ours["max_abs_score_diff"] < 1e-4  # same weights: dynamic padding and batching must not change scores
    assert rows["train-fixed-fp32"]["avg_padded_width"] == 128 > rows["train-dynamic-fp32"]["avg_padded_width"]
    assert base["flops_forward_per_text"] > ours["flops_forward_per_text"] > 0

    assert report["command"] in markdown and "## Annotation" in markdown and "## Training" in markdown
    assert "| baseline: pad 128, batch 16, model.predict, float32, XLA off |" in markdown
    assert not report["determinism"]  # else Keras silently drops XLA; the XLA rows must really be XLA
    assert "error" not in rows["annotate-ours-fp32-xla"] and "error" not in rows["train-dynamic-fp32-xla"]


    # Measuring only the command-line table keeps the annotate and train tables (and their run) in the report.
    proc = subprocess.run([sys.executable, *SCRIPT, "--quick", "--tasks", "cli", "--cli-repeats", "1",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    merged = json.loads((tmp_path / "bert_speed.json").read_text())
    markdown = (tmp_path / "bert_speed.md").read_text()
    assert merged["configs"] == report["configs"] and merged["command"] == report["command"]
    assert merged["cli_measured"]["command"].endswith("--tasks cli --cli-repeats 1 --out " + str(out))
    cli = {row["name"]: row for row in merged["cli"]}
    # no peer: the tiny preset is no Hugging Face checkpoint
    assert set(cli) == {"cli-ours-fp32", "cli-ours-xla", "cli-ours-auto", "cli-ours-auto-1"}
    assert cli["cli-ours-fp32"]["n_texts"] == 160 and cli["cli-ours-auto-1"]["n_texts"] == 1
    assert all("error" not in row for row in cli.values())
    from eqn_keras.distribute import inference_precision

    auto = cli["cli-ours-auto"]
    assert auto["precision"] == inference_precision("auto", "bert")
    # the default precision's energies against float32's, read back from both CSVs: equal unless bf16 ran
    assert (auto["max_abs_energy_diff_vs_ours_fp32"] > 0) == (auto["precision"] == "bfloat16")
    assert auto["max_abs_energy_diff_vs_ours_fp32"] < 0.5
    # the XLA row really ran XLA (its summary line says so) and differs from float32 by round-off only
    assert cli["cli-ours-xla"]["runs"][0]["log"].endswith("(float32, XLA)")
    assert cli["cli-ours-fp32"]["runs"][0]["log"].endswith("(float32)")
    assert cli["cli-ours-xla"]["max_abs_energy_diff_vs_ours_fp32"] <= 0.0100001
    assert "| baseline: pad 128, batch 16, model.predict, float32, XLA off |" in markdown
    assert "## Annotation as a user runs it" in markdown and merged["cli_measured"]["command"] in markdown
