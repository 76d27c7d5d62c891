"""Why the EQN head learns slower under BERT, measured: one fine-tuning recipe per row, every head.

Short MiniLM runs (a seeded subset, every epoch run: no early stopping) with the same data and seed; each
recipe is a set of keys laid over `models/bert.json` (`eqn-keras train --arch-config`). The EQN head is
trained for its first stage only (CoEQN), the baseline is the conventional head of the dataset.

    python -m benchmarks.bert_recipe                       # 3tfn and goemotions, the default recipes
    python -m benchmarks.bert_recipe --datasets 3tfn --max-train 300 --epochs 2 --out /tmp/recipe   # quick
    python -m benchmarks.bert_recipe --report --datasets 3tfn --max-train 1000   # rewrite .md/.png from the .jsonl

Writes <out>/bert_recipe.md (per-epoch dev metric and loss, test metric, with the command, commit and
machine) and <out>/bert_recipe.png (dev metric and dev loss per epoch, one line per recipe and head).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from . import reproduce
from .common import RESULTS, append_result, md_table, read_results, write_lines

ADAMW = {"name": "adamw", "weight_decay": 0.01, "warmup_fraction": 0.1, "no_weight_decay": ["bias", "gamma", "beta"]}
# name -> (keys over models/bert.json, heads it applies to)
RECIPES = {
    "adam-const": ({"optimizer": {"name": "adam"}, "unit_scale": False, "prior_bias": False}, ("eqn", "base")),
    "adamw": ({"optimizer": ADAMW, "unit_scale": False, "prior_bias": False}, ("eqn", "base")),
    "adamw+unit": ({"optimizer": ADAMW, "unit_scale": True, "prior_bias": False}, ("eqn",)),
    "adamw+prior": ({"optimizer": ADAMW, "unit_scale": False, "prior_bias": True}, ("eqn", "base")),
    "adamw+unit+prior": ({"optimizer": ADAMW, "unit_scale": True, "prior_bias": True}, ("eqn",)),
}


def run(dataset, recipe, head, args, config_dir: Path) -> dict:
    keys, _ = RECIPES[recipe]
    path = config_dir / f"{recipe}.json"
    path.write_text(json.dumps(keys))
    extra = ["--arch-config", str(path), "--patience", str(args.epochs + 1)]
    if head == "eqn":
        extra += ["--stages", "1"]
    name = f"recipe-{dataset}-{recipe}-{head}-s{args.seed}"
    metrics, provenance = reproduce.train_run("bert", dataset, head, args.seed, args, name, extra)
    stage = metrics["final_stage"]
    rep = metrics["stages"][stage]
    hist = rep["history"]
    metric = f"val_{rep['table3_metric']}"
    return {"dataset": dataset, "recipe": recipe, "head": head, "stage": stage, "keys": keys,
            "val_metric": hist.get(metric), "val_loss": hist["val_loss"], "best_epoch": hist["best_epoch"],
            "test": rep["table3"], "test_metric": rep["table3_metric"], "macro_f1": rep.get("macro_f1"),
            **provenance}


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in rows})
    fig, axes = plt.subplots(2, len(datasets), figsize=(6 * len(datasets), 8), squeeze=False)
    for col, dataset in enumerate(datasets):
        for r in (r for r in rows if r["dataset"] == dataset):
            epochs = range(1, len(r["val_loss"]) + 1)
            style = "-" if r["head"] == "eqn" else "--"
            label = f"{r['stage']} {r['recipe']}"
            axes[0][col].plot(epochs, r["val_metric"], style, marker="o", label=label)
            # Losses of different heads are on different scales: each line relative to its first epoch.
            axes[1][col].plot(epochs, [v / r["val_loss"][0] for v in r["val_loss"]], style, marker="o", label=label)
        metric = next(r["test_metric"] for r in rows if r["dataset"] == dataset)
        axes[0][col].set_title(f"{dataset}: dev {metric} per epoch")
        axes[1][col].set_title(f"{dataset}: dev loss / dev loss after epoch 1")
        for ax in axes[:, col]:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(rows, args, path: Path) -> None:
    lines = ["# BERT fine-tuning recipe, per head", "",
             "Written by `benchmarks/bert_recipe.py`; every number below was measured by it. MiniLM-L6-H384 "
             f"(offline), {args.max_train} training texts (seeded subset), {args.epochs} epochs, no early stopping, "
             f"seed {args.seed}, batch 32, peak learning rate 5e-5. EQN rows are its first stage (CoEQN, MSE on "
             "0/10 full labels); base rows are the conventional head (softmax for 3tfn, sigmoid for goemotions).",
             "Recipes: adam-const = Adam at a constant rate (the earlier default); adamw = AdamW, 10% linear "
             "warm-up, linear decay to 0, weight decay 0.01 except biases and LayerNorm; unit = the EQN head's "
             "linear layer on a 0-1 scale with a fixed x10 rescaling (same outputs and targets); prior = output "
             "bias set so the untrained head predicts the training label means.", "",
             "![curves](bert_recipe.png)", "",
             md_table(["dataset", "head", "recipe", "dev metric per epoch", "dev loss per epoch", "best epoch", "test",
                       "macro-F1"],
                      [[r["dataset"], r["stage"], r["recipe"], " ".join(f"{v:.3f}" for v in r["val_metric"]),
                        " ".join(f"{v:.4g}" for v in r["val_loss"]), r["best_epoch"],
                        f"{r['test_metric']} {r['test']:.4f}", f"{r['macro_f1']:.4f}"] for r in rows])]
    machines = sorted({r["machine"] for r in rows})
    only = " ".join(f"{r['recipe']}:{'eqn' if r['head'] == 'eqn' else 'base'}" for r in rows)
    datasets = " ".join(sorted({r["dataset"] for r in rows}))
    lines += ["", "Keys each recipe lays over `models/bert.json` (the `--arch-config` file of its runs):", ""]
    lines += [f"- {name}: `{json.dumps(RECIPES[name][0])}`" for name in dict.fromkeys(r["recipe"] for r in rows)]
    lines += ["", f"Machine: {'; '.join(machines)}. Commits: {', '.join(sorted({r['commit'] for r in rows}))}. "
              "Wall times are not compared here (other work shared the cores).", "",
              "Command:", "",
              f"    python -m benchmarks.bert_recipe --datasets {datasets} --max-train {args.max_train} "
              f"--epochs {args.epochs} --seed {args.seed} --only {only}", "",
              "Runs (the --arch-config file is a temporary copy of the recipe's keys):", ""]
    lines += [f"    {r['command']}" for r in rows]
    write_lines(path, lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["3tfn", "goemotions"], choices=reproduce.DATASETS)
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--only", nargs="+", metavar="RECIPE:HEAD", help="run only these (HEAD eqn or base), in this order")
    p.add_argument("--max-train", type=int, default=1500)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bert-preset", help="default: models/bert.json's (the offline MiniLM)")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--report", action="store_true", help="only rewrite the markdown and plot from bert_recipe.jsonl")
    args = p.parse_args(argv)
    args.jobs = 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "bert_recipe.jsonl"
    done = {(r["dataset"], r["recipe"], r["head"]): r for r in read_results(results)
            if (r["max_train"], r["epochs"], r["seed"]) == (args.max_train, args.epochs, args.seed)}
    reproduce.WORK.mkdir(parents=True, exist_ok=True)
    plan = [(r, h) for r in args.recipes for h in RECIPES[r][1]]
    if args.only:
        plan = [tuple(item.split(":", 1)) for item in args.only]
        bad = [item for item in plan if len(item) != 2 or item[0] not in RECIPES or item[1] not in RECIPES[item[0]][1]]
        if bad:
            p.error(f"--only {':'.join(bad[0])}: expected RECIPE:HEAD with a head that recipe applies to")
    if args.report:
        plan = []
    with tempfile.TemporaryDirectory() as config_dir:
        for dataset in args.datasets:
            for recipe, head in plan:
                head = reproduce.baseline_head(dataset) if head == "base" else head
                if (dataset, recipe, head) in done:
                    continue
                row = run(dataset, recipe, head, args, Path(config_dir))
                row.update(max_train=args.max_train, epochs=args.epochs, seed=args.seed)
                append_result(results, row)  # resumable: finished runs are not trained again
                done[(dataset, recipe, head)] = row
    rows = [r for r in done.values() if r["dataset"] in args.datasets]
    rows.sort(key=lambda r: (r["dataset"], r["head"] == "eqn", list(RECIPES).index(r["recipe"])))
    plot(rows, out / "bert_recipe.png")
    markdown(rows, args, out / "bert_recipe.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
