"""Zero-shot emotion intensity: how well each head's scores follow human intensity ratings.

Models trained on GoEmotions or 6emotions (never on the rated texts) score brighter-eng (train + dev: every
text rated 0-3 for each of anger, fear, joy, sadness, surprise) and emoint (dev: one emotion per tweet, 0-1).
Each cell (arch, dataset, seed) trains the conventional baseline (sigmoid on GoEmotions, softmax on
6emotions), the two-stage EQN run (CoEQN then EQN), and, with --variants, the label-regression variants of
variants.md (t2, t05: EQN on CoEQN's scores at temperature 2 / 0.5; stage3: a third stage; bce: eqn_bce on the
baseline's scores). Every stage's raw scores of the gold texts' emotions are archived in
results/intensity/<run>/ (with provenance: commit, machine, command, wall time), and intensity.md and
intensity.png are written from that archive alone, so every number can be recomputed without the models.

    EQN_DATA_DIR=../shared/datasets python -m benchmarks.intensity --archs textcnn lstm --seeds 3
    EQN_DATA_DIR=../shared/datasets python -m benchmarks.intensity --archs bert --seeds 1
    EQN_DATA_DIR=../shared/datasets python -m benchmarks.intensity --report      # only rewrite the report
    EQN_DATA_DIR=../shared/datasets python -m benchmarks.intensity --quick --results /tmp/int  # tiny (tests)

Rerunning the same command resumes: archived stages are skipped, unfinished runs continue.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from eqn_keras import ARCHS
from eqn_keras.fileio import atomic_write

from . import reproduce
from .common import PAIRED_TEST, RESULTS, ROOT, md_table, mean_std, paired_difference, run_path, write_lines

GOLDS = ("brighter-eng", "emoint")
DEV = "brighter-eng:dev"  # the graded runs' test split: the released dev texts, zero-shot rows sliced to them too
DATASETS = ("goemotions", "6emotions")
# variant: (head, source run kind, source stage, extra train flags)
VARIANTS = {
    "t2": ("eqn", "eqn", "coeqn", ["--regress-temperature", "2"]),
    "t05": ("eqn", "eqn", "coeqn", ["--regress-temperature", "0.5"]),
    "stage3": ("eqn", "eqn", "eqn", []),
    "bce": ("eqn_bce", "base", None, []),
}
HEAD_TITLES = {"single": "softmax probability", "multi": "sigmoid probability", "coeqn": "CoEQN energy",
               "eqn": "EQN energy", "t2": "EQN energy, regressed at T=2", "t05": "EQN energy, regressed at T=0.5",
               "stage3": "third-stage energy", "bce": "eqn_bce energy (baseline's scores as BCE targets)",
               "graded": "energy, trained on brighter-eng train's ratings",
               **{f"graded_from_{d}": f"energy, {d} EQN fine-tuned on brighter-eng train's ratings" for d in DATASETS}}


def gold_digest(gold) -> str:
    """sha256 of a gold set's texts and ratings: identifies what archived scores were made against."""
    digest = hashlib.sha256()
    for text in gold.texts:
        digest.update(text.encode("utf-8") + b"\0")
    digest.update(np.nan_to_num(gold.ratings, nan=-1.0).astype(np.float64).tobytes())
    return digest.hexdigest()


def load_golds(data_dir=None) -> dict:
    from eqn_keras.intensity import load_gold

    golds = {name: load_gold(name, data_dir) for name in (*GOLDS, DEV)}
    whole, dev = golds["brighter-eng"], golds[DEV]
    if whole.texts[-len(dev):] != dev.texts:
        raise SystemExit("brighter-eng: its dev texts are not the last of train + dev; cannot slice zero-shot scores")
    return golds


def archive_stage(run_dir, stage: str, golds: dict, target: Path) -> None:
    """Raw scores of `stage` on every gold set's texts, columns in gold-emotion order, into target/<stage>.npz."""
    import keras

    from eqn_keras.annotate import Annotator
    from eqn_keras.intensity import map_emotions

    annotator = Annotator(run_dir, stage)
    arrays = {}
    for name, gold in golds.items():
        columns = map_emotions(gold.emotions, annotator.label_names)
        arrays[name] = annotator.raw_scores(gold.texts)[:, columns]
        arrays[f"{name}_sha256"] = np.array(gold_digest(gold))
    arrays["energy_range"] = np.array(annotator.energy_range if annotator.energy_range else [np.nan, np.nan])
    target.mkdir(parents=True, exist_ok=True)
    with atomic_write(target / f"{stage}.npz", "wb") as handle:
        np.savez_compressed(handle, **arrays)
    keras.backend.clear_session()


def archive_run(metrics: dict, provenance: dict, kind: str, arch, dataset, seed, args, golds, results: Path) -> None:
    """Archive every stage of a finished run that is not archived yet, and the run's provenance."""
    run_dir = run_path(provenance["run_dir"])
    target = results / Path(provenance["run_dir"]).name
    # run directories named as in a checkout whatever --work was: the archive says nothing of this machine's paths
    work = str(reproduce.WORK.resolve())
    provenance = {**provenance, "command": provenance["command"].replace(work, "benchmarks/work"),
                  "run_dir": provenance["run_dir"].replace(work, "benchmarks/work")}
    for stage in metrics["stages"]:
        if not (target / f"{stage}.npz").is_file():
            print(f"   scoring {', '.join(golds)} with {target.name}:{stage}", flush=True)
            archive_stage(run_dir, stage, golds, target)
    record = {"kind": kind, "arch": arch, "dataset": dataset, "seed": seed, "epochs": args.epochs,
              "max_train": args.max_train, "stages": {s: {k: r.get(k) for k in ("table3_metric", "table3", "macro_f1")}
                                                     for s, r in metrics["stages"].items()}, **provenance}
    with atomic_write(target / "provenance.json") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")


def run_graded(arch, seed, args, golds, results: Path, start=None) -> None:
    """Train on brighter-eng train's ratings (`--target-cols`, dev carved from train for early stopping), test on
    its released dev split; archive the scores of that dev split and of emoint (texts the model has not seen).
    `start`: a zero-shot dataset whose EQN run of this arch and seed is fine-tuned (`--init-from`) instead."""
    from eqn_keras.datasets import fetch_file, load_gold_card

    kind = "graded" if start is None else f"graded_from_{start}"
    name = f"intensity-brighter-{arch}-{kind.replace('_', '-')}-s{seed}"
    if (results / f"{name}{reproduce.run_suffix(args)}" / "provenance.json").is_file():
        return
    extra = []
    if start is not None:
        source = reproduce.WORK / f"intensity-{start}-{arch}-eqn-s{seed}{reproduce.run_suffix(args)}"
        if not (source / "metrics.json").is_file():
            print(f"   {kind}: its source run {source.name} is not on this machine; skipped", flush=True)
            return
        extra = ["--init-from", f"{source}:eqn"]
    card = load_gold_card("brighter-eng")
    train, dev = (fetch_file(card, role, args.data_dir)[0] for role in ("train", "dev"))
    print(f"== {arch} brighter-eng {kind} seed {seed}", flush=True)
    metrics, provenance = reproduce.train_run(
        arch, str(train), "eqn", seed, args, name,
        ["--test-data", str(dev), "--target-cols", ",".join(card["emotions"]), "--target-range", "0,3", "--stages", "1",
         *extra])
    provenance["command"] = provenance["command"].replace(str(train.parent), "$EQN_DATA_DIR/brighter-eng")
    archive_run(metrics, provenance, kind, arch, "brighter-eng", seed, args,
                {k: golds[k] for k in (DEV, "emoint")}, results)


def run_cell(arch, dataset, seed, args, golds, results: Path) -> None:
    """Train (or find) the cell's baseline, EQN and variant runs, and archive their gold scores."""
    golds = {name: golds[name] for name in GOLDS}  # brighter-eng dev is the tail of brighter-eng: sliced, not scored
    base_head = reproduce.baseline_head(dataset)
    runs = {}
    for kind, head, extra in (("base", base_head, []), ("eqn", "eqn", [])):
        name = f"intensity-{dataset}-{arch}-{kind}-s{seed}"
        target = results / f"{name}{reproduce.run_suffix(args)}"
        if (target / "provenance.json").is_file():
            runs[kind] = reproduce.WORK / target.name
            continue
        print(f"== {arch} {dataset} {kind} seed {seed}", flush=True)
        metrics, provenance = reproduce.train_run(arch, dataset, head, seed, args, name, extra)
        archive_run(metrics, provenance, kind, arch, dataset, seed, args, golds, results)
        runs[kind] = run_path(provenance["run_dir"])
    for variant in args.variants:
        head, source_kind, source_stage, flags = VARIANTS[variant]
        name = f"intensity-{dataset}-{arch}-{variant}-s{seed}"
        target = results / f"{name}{reproduce.run_suffix(args)}"
        if (target / "provenance.json").is_file():
            continue
        source = runs[source_kind]
        if not (source / "config.json").is_file():
            print(f"   {variant}: its source run {source} is not on this machine; skipped", flush=True)
            continue
        print(f"== {arch} {dataset} {variant} seed {seed}", flush=True)
        spec = f"{source}:{source_stage}" if source_stage else str(source)
        metrics, provenance = reproduce.train_run(arch, dataset, head, seed, args, name,
                                                  ["--regress-from", spec, *flags])
        archive_run(metrics, provenance, variant, arch, dataset, seed, args, golds, results)


# ---------------------------------------------------------------------------------------------
# Report, from the archive alone


def archived(results: Path) -> list:
    """Every archived stage: (provenance, stage, {gold: raw scores}, energy range or None)."""
    out = []
    for prov_path in sorted(results.glob("*/provenance.json")):
        prov = json.loads(prov_path.read_text())
        for stage in prov["stages"]:
            with np.load(prov_path.parent / f"{stage}.npz") as data:
                arrays = {k: data[k] for k in data.files}
            energy = arrays.pop("energy_range")
            out.append((prov, stage, arrays, None if np.isnan(energy).all() else tuple(energy)))
    return out


def score_name(prov: dict, stage: str) -> str:
    """What a row's scores are: the baseline head, coeqn / eqn, or the variant's (or graded run's) name."""
    return stage if prov["kind"] in ("base", "eqn") else prov["kind"]


def evaluate(entries, golds: dict, resamples: int) -> list:
    """One row per archived stage and gold set: the intensity report's averages (and per emotion)."""
    from eqn_keras.intensity import intensity_report
    from eqn_keras.labels import clip_energies

    rows = []
    for prov, stage, arrays, energy in entries:
        for name, gold in golds.items():
            source = "brighter-eng" if name == DEV and DEV not in arrays else name
            if source not in arrays:
                continue
            if str(arrays[f"{source}_sha256"]) != gold_digest(golds[source]):
                raise SystemExit(f"{prov['run_dir']}:{stage}: its {source} scores were made against other texts or "
                                 "ratings than the gold set here; a different copy of the data?")
            raw = arrays[source][-len(gold):]  # a zero-shot run's brighter-eng scores end with the dev texts
            report = intensity_report(clip_energies(raw, energy), gold, resamples=resamples)
            row = {"arch": prov["arch"], "dataset": prov["dataset"], "seed": prov["seed"], "epochs": prov["epochs"],
                   "max_train": prov["max_train"], "score": score_name(prov, stage), "gold": name,
                   "run": Path(prov["run_dir"]).name, "commit": prov["commit"], "machine": prov["machine"],
                   "command": prov["command"], "wall_s": prov["wall_s"],
                   **{m: v["value"] for m, v in report["average"].items()},
                   "ci95": {m: v["ci95"] for m, v in report["average"].items()},
                   "per_emotion": {e: {m: v[m]["value"] for m in ("pearson", "pearson_low")}
                                   for e, v in report["emotions"].items()}}
            if energy is not None:  # does the clip to the energy range cost correlation?
                row["pearson_unclipped"] = intensity_report(raw, gold, resamples=0)["average"]["pearson"]["value"]
            rows.append(row)
    return rows


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def summary_table(rows: list, gold: str) -> str:
    """Per (dataset, arch, score): mean ± std over seeds of the averaged metrics, and the paired difference to
    the same cell's baseline probability over the seeds both have."""
    from eqn_keras.intensity import METRICS

    groups = {}
    for r in rows:
        if r["gold"] == gold:
            groups.setdefault((r["dataset"], r["arch"], r["epochs"], r["max_train"], r["score"]), []).append(r)
    order = ["single", "multi", "coeqn", "eqn", *VARIANTS, "graded", *(f"graded_from_{d}" for d in DATASETS)]
    # brighter-eng rates every emotion of every text: below moderate are the ones a text only hints at or lacks;
    # every emoint tweet was chosen for its emotion
    hints = " (hints)" if gold.startswith("brighter-eng") else ""
    header = ["train data", "arch", "scores", "seeds", "Pearson r", "Spearman rho", "r, gold ≥ moderate",
              f"r, gold < moderate{hints}", "r unclipped", "r − probability (n seeds, paired t p)",
              "r (gold < moderate) − probability (n seeds, paired t p)"]
    lines = []
    for key in sorted(groups, key=lambda k: (k[0], ARCHS.index(k[1]) if k[1] in ARCHS else 9, k[2], k[3] or 0,
                                             order.index(k[4]) if k[4] in order else 99)):
        dataset, arch, epochs, max_train, score = key
        found = groups[key]
        base = groups.get((dataset, arch, epochs, max_train, reproduce.baseline_head(dataset)), [])
        per_seed = {m: {r["seed"]: r.get(m) for r in found if r.get(m) is not None} for m in (*METRICS, "pearson_unclipped")}
        base_seed = {m: {r["seed"]: r.get(m) for r in base if r.get(m) is not None} for m in ("pearson", "pearson_low")}
        is_base = score == reproduce.baseline_head(dataset)
        setup = f"{dataset}" + (f" ({max_train} texts)" if max_train else "")
        lines.append([setup, arch, HEAD_TITLES.get(score, score), len(found),
                      *(mean_std(list(per_seed[m].values())) for m in METRICS),
                      mean_std(list(per_seed["pearson_unclipped"].values())) if not is_base else "—",
                      "—" if is_base else paired_difference(per_seed["pearson"], base_seed["pearson"]),
                      "—" if is_base else paired_difference(per_seed["pearson_low"], base_seed["pearson_low"])])
    return md_table(header, lines)


def plot(entries, golds: dict, path: Path):
    """Scores against brighter-eng's gold levels per emotion, one row of panels per head of one model family
    (the first seed of GoEmotions-trained BERT, else TextCNN, else another arch), as box plots: how the scores climb with the rated intensity.
    Returns (path, markdown table of the plotted medians), or (None, None) when no model family is complete."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eqn_keras.labels import clip_energies

    gold = golds["brighter-eng"]
    family = {}
    for prov, stage, arrays, energy in entries:
        if prov["kind"] in ("base", "eqn") and "brighter-eng" in arrays:
            family.setdefault((prov["dataset"], prov["arch"], prov["seed"]), {})[score_name(prov, stage)] = \
                clip_energies(arrays["brighter-eng"], energy)
    complete = {k: v for k, v in family.items() if len(v) == 3}
    if not complete:
        return None, None
    key = sorted(complete, key=lambda k: (k[0] != "goemotions", k[1] != "bert", k[1] != "textcnn", k[2]))[0]
    heads = [h for h in ("single", "multi", "coeqn", "eqn") if h in complete[key]]
    levels = np.unique(gold.ratings[~np.isnan(gold.ratings)])
    medians = []
    fig, axes = plt.subplots(len(heads), len(gold.emotions), figsize=(2.6 * len(gold.emotions), 2.3 * len(heads)),
                             sharex=True, squeeze=False)
    for i, head in enumerate(heads):
        scores = complete[key][head]
        for j, emotion in enumerate(gold.emotions):
            ax = axes[i][j]
            data = [scores[gold.ratings[:, j] == level, j] for level in levels]
            medians.append([HEAD_TITLES[head], emotion, *(f"{np.median(d):.3g}" for d in data)])
            ax.boxplot(data, showfliers=False)
            ax.set_xticks(range(1, len(levels) + 1), [f"{lv:g}" for lv in levels])
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.corrcoef(scores[:, j], gold.ratings[:, j])[0, 1]
            ax.set_title(f"{emotion}: r = {r:.2f}", fontsize=9)
            if j == 0:
                ax.set_ylabel(HEAD_TITLES[head].replace(" ", "\n", 1), fontsize=8)
            if i == len(heads) - 1:
                ax.set_xlabel("gold intensity (0-3)", fontsize=8)
    fig.suptitle(f"{key[1]} trained on {key[0]} (seed {key[2]}), zero-shot on brighter-eng train+dev "
                 f"({len(gold)} texts): scores per rated intensity", fontsize=10)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    table = md_table(["scores", "emotion", *(f"median at gold {lv:g}" for lv in levels)], medians)
    return path, f"Medians of the plot ({key[1]} trained on {key[0]}, seed {key[2]}, brighter-eng train + dev):\n\n{table}"


def undefined_note(gold) -> str | None:
    """Which emotions leave a subset metric undefined for every model ('—' in its average): a subset with fewer
    than 3 rated texts or a single rating value has no Pearson r, whatever the scores."""
    said = []
    for name, keep in (("r, gold ≥ moderate", lambda v: v >= gold.moderate), ("r, gold < moderate", lambda v: v < gold.moderate)):
        for e, emotion in enumerate(gold.emotions):
            values = gold.ratings[~np.isnan(gold.ratings[:, e]), e]
            values = values[keep(values)]
            if len(values) < 3 or len(np.unique(values)) < 2:
                said.append(f"{name} is undefined for {emotion} ({len(values)} texts, rated "
                            f"{', '.join(f'{v:g}' for v in np.unique(values)) or 'none'})")
    return ("'—' in an average: " + "; ".join(said) + ".") if said else None


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_report(results: Path, golds: dict, resamples: int, out: Path) -> None:
    entries = archived(results)
    rows = evaluate(entries, golds, resamples)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out.with_suffix(".jsonl")) as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    image, medians = plot(entries, golds, out.with_suffix(".png"))
    runs = {r["run"]: r for r in rows}
    lines = [
        "# Zero-shot emotion intensity: energies and probabilities against human ratings", "",
        f"Written by `benchmarks/intensity.py` from the score archive in `{_shown(results)}/`; every number "
        "below was computed by it from the archived per-text scores.",
        "Models trained on GoEmotions or 6emotions (never on these texts) score every released text of "
        f"brighter-eng (train + dev, {len(golds['brighter-eng'])} texts, each rated 0-3 for each of "
        f"{', '.join(golds['brighter-eng'].emotions)}) and emoint (dev, {len(golds['emoint'])} tweets, one emotion "
        "each, rated 0-1). Neither set's test split is used.",
        "Scores are what a user sees: a baseline head's probability, an energy head's energy clipped to 0-10 "
        "('r unclipped': the head's raw output). Metrics are averaged over the gold set's emotions: Pearson r "
        "(the shared tasks' metric), Spearman rho, and Pearson r on the texts rated at least moderate (≥ 2 of 3; "
        "emoint ≥ 0.5, its second metric) and on those rated below it (0 or 1 of 3: the emotions a text only "
        "hints at or lacks, where micro-emotions live).",
        "Means ± std are over each row's own seeds (the seeds column); a difference to the probability of the same "
        "arch and data is over the seeds both have, shown with their number n and the p of a "
        f"{PAIRED_TEST} (none with one seed).",
        "Published references (test sets, not comparable run for run): brighter-eng average r, RemBERT fine-tuned "
        "0.64, Qwen2.5-72B with 8 examples 0.56; emoint, the best WASSA-2017 system 0.747 (both trained on the "
        "task's own data).", ""]
    titles = {"brighter-eng": "brighter-eng, train + dev (zero-shot)", "emoint": "emoint dev (zero-shot for every row)",
              DEV: "brighter-eng dev: zero-shot against trained on brighter-eng train's ratings"}
    for gold in (*GOLDS, DEV):
        if any(r["gold"] == gold for r in rows):
            lines += [f"## {titles[gold]}", "", summary_table(rows, gold), ""]
            lines += [f"{note}", ""] if (note := undefined_note(golds[gold])) else []
    if image is not None:
        lines += [f"![scores per gold level]({image.name})", "", medians, ""]
    lines += ["## Runs", "", md_table(["run", "commit", "machine", "wall s", "command"],
                                      [[r["run"], r["commit"], r["machine"], r["wall_s"], f"`{r['command']}`"]
                                       for r in runs.values()]), ""]
    write_lines(out.with_suffix(".md"), lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=list(ARCHS[:4]), choices=ARCHS)
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds to train (default 0 1 2)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-train", type=int)
    p.add_argument("--variants", nargs="*", default=[], choices=list(VARIANTS),
                   help="label-regression variants to train too (default none)")
    p.add_argument("--graded", nargs="*", default=[], choices=ARCHS, metavar="ARCH",
                   help="also train these archs on brighter-eng train's ratings, tested on its dev split")
    p.add_argument("--finetune-from", nargs="*", default=[], choices=DATASETS, metavar="DATASET",
                   help="with --graded: also fine-tune each --graded arch's zero-shot EQN run of DATASET on the ratings")
    p.add_argument("--no-zero-shot", action="store_true", help="train only the --graded runs")
    p.add_argument("--bert-preset", help="for --archs bert (default: models/bert.json's, the offline MiniLM)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of each row's interval")
    p.add_argument("--results", default=str(RESULTS / "intensity"), help="score archive folder")
    p.add_argument("--out", default=str(RESULTS / "intensity.md"), help="the report (also .jsonl and .png)")
    p.add_argument("--work", default=str(reproduce.WORK), help="where run directories go (default benchmarks/work)")
    p.add_argument("--data-dir", help="folder holding the datasets (default $EQN_DATA_DIR)")
    p.add_argument("--quick", action="store_true",
                   help="tiny: textcnn on 6emotions, seed 0, 300 training texts, 1 epoch, the t2 variant, graded textcnn from "
                        "scratch and fine-tuned from the 6emotions run")
    p.add_argument("--report", action="store_true", help="only rewrite the report from the archive")
    args = p.parse_args(argv)
    if args.quick:
        args.archs, args.datasets, args.seeds, args.epochs, args.max_train = ["textcnn"], ["6emotions"], [0], 1, 300
        args.variants, args.graded = args.variants or ["t2"], args.graded or ["textcnn"]
        args.finetune_from = args.finetune_from or ["6emotions"]
    reproduce.set_work(args.work)
    args.jobs = 1
    results = Path(args.results).resolve()
    golds = load_golds(args.data_dir)
    if not args.report:
        reproduce.WORK.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            for arch in args.graded:
                run_graded(arch, seed, args, golds, results)
            for dataset in () if args.no_zero_shot else args.datasets:
                for arch in args.archs:
                    run_cell(arch, dataset, seed, args, golds, results)
            for arch in args.graded:
                for start in args.finetune_from:
                    run_graded(arch, seed, args, golds, results, start)
    write_report(results, golds, args.resamples, Path(args.out).resolve())
    print(f"wrote {Path(args.out).resolve()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
