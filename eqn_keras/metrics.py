"""Evaluation metrics of the EQN paper (section 3.1.5, Tables 3-6, Figs 8-9) on per-label score matrices.

Pure NumPy / scikit-learn / pandas (no TensorFlow), so evaluation runs anywhere the scores were saved.
`scores` is a float array [N, C] (energies or probabilities: only their order and a threshold matter);
`labels` is a list of N tuples of true label ids (1-tuples for single-label data; a bare int is accepted).

Tie rule, used everywhere a ranking is needed (argmax, top-k, Table 5): labels are ordered by a stable
argsort of -scores, so among equal scores the lower label index ranks first (as `np.argmax` does).
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, precision_recall_curve, precision_recall_fscore_support

from .labels import annotated_mask as multi_hot  # Boolean [N, C] indicator of the true label sets

DEFAULT_GRID_SIZE = 200
# What `tune_threshold` / `tune_label_thresholds` search by default, as reports and metrics.json name it.
EXACT_CANDIDATES = "every distinct dev score"

__all__ = [
    "multi_hot", "accuracy", "top_k_sets", "top_k_mask", "sample_prf", "hit_rate", "hits_by_label_count",
    "topk_expansion", "default_threshold_grid", "candidates_name", "tune_threshold", "tune_label_thresholds", "per_label_prf",
    "threshold_prf", "threshold_evaluation", "table3_measure", "pearson_matrix", "plot_pearson_heatmap", "evaluation_report",
    "format_tables",
]


# ----------------------------------------------------------------------------------------------- inputs

def _as_scores(scores) -> np.ndarray:
    """Scores as a float64 [N, C] array; NaN is refused because it has no place in a ranking."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"scores must be a 2-D array [texts, labels], got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"scores must have at least one text and one label, got shape {arr.shape}")
    if np.isnan(arr).any():
        row = int(np.flatnonzero(np.isnan(arr).any(axis=1))[0])
        raise ValueError(f"scores contain NaN (first in row {row})")
    return arr


def _inputs(scores, labels, need_labels: bool = True):
    """Checked scores, multi-hot truth and per-row label counts k_i."""
    arr = _as_scores(scores)
    labels = list(labels)
    if len(labels) != arr.shape[0]:
        raise ValueError(f"{len(labels)} label tuples for {arr.shape[0]} score rows")
    truth = multi_hot(labels, arr.shape[1])
    k = truth.sum(axis=1)
    if need_labels and (k == 0).any():
        raise ValueError(f"text {int(np.flatnonzero(k == 0)[0])} has no true label; top-k_i metrics need k_i >= 1")
    return arr, truth, k


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of every label in its row (0 = highest score); ties go to the lower label index."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(scores.shape[0])[:, None], order] = np.arange(scores.shape[1])
    return ranks


def _k_per_row(k, n: int, c: int) -> np.ndarray:
    k_arr = np.broadcast_to(np.asarray(k), (n,)).astype(np.int64)
    if (k_arr < 0).any() or (k_arr > c).any():
        raise ValueError(f"k must lie in 0..{c}")
    return k_arr


# ------------------------------------------------------------------------------------- top-k metrics

def accuracy(scores, labels) -> float:
    """Argmax accuracy (Table 3 for single-label data); a multi-label row counts if argmax is any true label."""
    arr, truth, k = _inputs(scores, labels)
    pred = np.argmax(arr, axis=1)  # first maximum = lower index wins, the module's tie rule
    if (k == 1).all():
        return float(accuracy_score(np.argmax(truth, axis=1), pred))
    return float(truth[np.arange(arr.shape[0]), pred].mean())


def top_k_mask(scores, k) -> np.ndarray:
    """Boolean [N, C] mask of each row's top-k_i labels (k: an int or one per row)."""
    arr = _as_scores(scores)
    k_arr = _k_per_row(k, *arr.shape)
    return _ranks(arr) < k_arr[:, None]


def top_k_sets(scores, k) -> list:
    """Eq. 9: each row's top-k_i label ids, highest score first (one int array per row)."""
    arr = _as_scores(scores)
    k_arr = _k_per_row(k, *arr.shape)
    order = np.argsort(-arr, axis=1, kind="stable")
    keep = np.arange(arr.shape[1])[None, :] < k_arr[:, None]
    return np.split(order[keep], np.cumsum(k_arr)[:-1])


def _hits(scores, labels):
    """Per-row hits |T_i ∩ TOP_k_i| and label counts k_i."""
    arr, truth, k = _inputs(scores, labels)
    hits = (truth & (_ranks(arr) < k[:, None])).sum(axis=1)
    return hits, k


def table3_measure(multi_label: bool):
    """(name, function) of the paper's Table 3 metric: hit rate for multi-label data, argmax accuracy otherwise."""
    return ("hit_rate", hit_rate) if multi_label else ("accuracy", accuracy)


def sample_prf(scores, labels) -> dict:
    """Eqs 10-15: sample-averaged precision, recall and F1 with the predicted set TOP_k_i, k_i = |T_i|.

    Because |T̂_i| = |T_i| the three per-sample values coincide (hits_i / k_i); all three are returned
    because the paper reports them separately.
    """
    hits, k = _hits(scores, labels)
    precision_i = hits / k  # |T̂_i| = k_i
    recall_i = hits / k
    denom = precision_i + recall_i
    f1_i = np.divide(2 * precision_i * recall_i, denom, out=np.zeros_like(denom), where=denom > 0)
    return {"precision": float(precision_i.mean()), "recall": float(recall_i.mean()), "f1": float(f1_i.mean())}


def hit_rate(scores, labels) -> float:
    """Total hits / total true labels with top-k_i predictions (Table 3 for GoEmotions, Table 4 "Total")."""
    hits, k = _hits(scores, labels)
    return float(hits.sum() / k.sum())


def hits_by_label_count(scores, labels) -> pd.DataFrame:
    """Table 4: texts grouped by their number of true labels: corpus, labels, hits, hit_rate, plus "Total"."""
    hits, k = _hits(scores, labels)
    counts = np.unique(k)
    corpus = np.array([(k == c).sum() for c in counts] + [k.size], dtype=np.int64)
    n_labels = np.array([k[k == c].sum() for c in counts] + [k.sum()], dtype=np.int64)
    n_hits = np.array([hits[k == c].sum() for c in counts] + [hits.sum()], dtype=np.int64)
    index = pd.Index([f"{c} label" if c == 1 else f"{c} labels" for c in counts] + ["Total"], name="class")
    return pd.DataFrame({"corpus": corpus, "labels": n_labels, "hits": n_hits,
                         "hit_rate": n_hits / n_labels}, index=index)


def topk_expansion(scores, labels, ks=(1, 2, 3)) -> pd.DataFrame:
    """Table 5: on single-label texts, cumulative hits when the true label is within the top-k.

    `increment` is the paper's "+761" column (new hits over the previous k; the first row's is its hits).
    hit_rate is NaN when there is no single-label text.
    """
    arr, truth, k = _inputs(scores, labels)
    ks = sorted({int(x) for x in ks})
    if not ks or ks[0] < 1 or ks[-1] > arr.shape[1]:
        raise ValueError(f"ks must be integers in 1..{arr.shape[1]}, got {ks}")
    single = k == 1
    true_rank = _ranks(arr[single])[truth[single]]  # one true label per single-label row
    cumulative = np.array([(true_rank < kk).sum() for kk in ks], dtype=np.int64)
    n = int(single.sum())
    rate = cumulative / n if n else np.full(len(ks), np.nan)
    return pd.DataFrame({"corpus": n, "labels": n, "hits": cumulative,
                         "increment": np.diff(cumulative, prepend=0), "hit_rate": rate},
                        index=pd.Index([f"Top{kk}" for kk in ks], name="class"))


# ---------------------------------------------------------------------------------- threshold metrics

def default_threshold_grid(scores, size: int = DEFAULT_GRID_SIZE) -> np.ndarray:
    """About `size` candidate thresholds: half quantiles of all scores, half evenly spaced over their range.

    Quantiles make the grid scale-free (energies 0-10 or probabilities 0-1); the even half keeps it
    dense in the sparse upper tail, where a macro-F1 optimum usually lies.
    """
    flat = _as_scores(scores).ravel()
    half = max(size // 2, 2)
    quantiles = np.quantile(flat, np.linspace(0.0, 1.0, half))
    spaced = np.linspace(flat.min(), flat.max(), size - half if size - half >= 2 else 2)
    return np.unique(np.concatenate([quantiles, spaced]))


def _candidates(arr: np.ndarray, grid) -> np.ndarray:
    """Sorted unique candidate thresholds: every distinct value of `arr` (None), the default grid of that size
    (an int), or `grid` given as values.

    A prediction {score >= h} changes only where h crosses a score, so the distinct scores are every prediction
    a threshold can make (but the empty one, which scores F1 0): searching them finds the exact optimum.
    """
    if grid is None:
        return np.unique(arr)
    if isinstance(grid, numbers.Integral):
        return default_threshold_grid(arr, int(grid))
    candidates = np.unique(np.asarray(grid, dtype=np.float64).ravel())
    if candidates.size == 0 or np.isnan(candidates).any():
        raise ValueError("grid must hold at least one threshold and no NaN")
    return candidates


def _label_f1(column: np.ndarray, positive: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """F1 of one label's prediction {i: score_i >= h} for every h in grid (sklearn's zero_division=0).

    Counts come from the sorted column and searchsorted, so each candidate costs O(log N).
    """
    positives = np.sort(column[positive])
    predicted = column.size - np.searchsorted(np.sort(column), grid, side="left")  # #{score >= h}
    tp = positives.size - np.searchsorted(positives, grid, side="left")
    denom = predicted + positives.size  # 2tp + fp + fn
    return np.divide(2.0 * tp, denom, out=np.zeros(grid.size), where=denom > 0)


def _macro_curve(arr: np.ndarray, truth: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Macro-F1 of {j: score_ij >= h} for every h in grid, as sklearn computes it with zero_division=0."""
    return np.mean([_label_f1(arr[:, j], truth[:, j], grid) for j in range(arr.shape[1])], axis=0)


def _first_best(curve: np.ndarray) -> int:
    """Index of the first (lowest-threshold) maximum of a curve over sorted candidates."""
    return int(np.flatnonzero(curve >= curve.max() - 1e-12)[0])


def tune_threshold(scores, labels, grid=None) -> float:
    """One global threshold h maximizing macro-F1 of {j: score_ij >= h}; tune it on the dev split.

    grid: None (the default) searches every distinct dev score, which finds the exact optimum; an int searches
    `default_threshold_grid` of that size (an approximation: the optimum may lie between its points); an
    array searches those values. Among equally good candidates the lowest is returned.
    """
    arr, truth, _ = _inputs(scores, labels, need_labels=False)
    candidates = _candidates(arr, grid)
    return float(candidates[_first_best(_macro_curve(arr, truth, candidates))])


def tune_label_thresholds(scores, labels, grid=None) -> np.ndarray:
    """One threshold per label, h_j maximizing label j's F1 of {i: score_ij >= h_j}; tune them on dev.

    This is the per-label rule of later GoEmotions work (each label's threshold chosen for its own dev
    F1), beside `tune_threshold`'s single threshold chosen for macro-F1. Returns a float array [C].
    grid: None (the default) searches every distinct dev score of each label (scikit-learn's
    `precision_recall_curve`), which finds each label's exact optimum; an int gives each label its own
    `default_threshold_grid` of that size, built from its own dev scores (an approximation: a label's optimum
    may lie between grid points); an array of values is shared by all labels. Among equally good candidates
    the lowest is returned; a label no candidate finds (F1 = 0 everywhere, e.g. no positive dev text) gets
    its highest candidate, predicting as few texts as the candidates allow.
    """
    arr, truth, _ = _inputs(scores, labels, need_labels=False)
    if grid is None:
        return np.array([_exact_label_threshold(arr[:, j], truth[:, j]) for j in range(arr.shape[1])])
    shared = None if isinstance(grid, numbers.Integral) else _candidates(arr, grid)
    thresholds = np.empty(arr.shape[1])
    for j in range(arr.shape[1]):
        candidates = shared if shared is not None else _candidates(arr[:, [j]], grid)
        f1 = _label_f1(arr[:, j], truth[:, j], candidates)
        thresholds[j] = candidates[-1] if f1.max() <= 0 else candidates[_first_best(f1)]
    return thresholds


def _exact_label_threshold(column: np.ndarray, positive: np.ndarray) -> float:
    """The lowest of the scores maximizing F1 of {score >= h} for one label (every distinct score searched,
    with `precision_recall_curve`); the column's highest score when the label has no positive text."""
    if not positive.any():
        return float(column.max())
    precision, recall, thresholds = precision_recall_curve(positive, column)
    precision, recall = precision[:-1], recall[:-1]  # the last pair (1, 0) has no threshold
    total = precision + recall
    f1 = np.divide(2.0 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return float(thresholds[_first_best(f1)])


def _threshold_vector(threshold, c: int) -> np.ndarray:
    """A threshold as something `scores >= h` broadcasts over columns: a scalar or one value per label."""
    h = np.asarray(threshold, dtype=np.float64)
    if h.ndim != 0 and h.shape != (c,):
        raise ValueError(f"threshold must be one number or one per label ({c}), got shape {h.shape}")
    if np.isnan(h).any():
        raise ValueError("threshold must not be NaN")
    return h


def per_label_prf(scores, labels, threshold, label_names) -> pd.DataFrame:
    """Table 6: per-label precision, recall, F1, support of {score >= threshold}, plus macro-average and std.

    threshold: one global value, or an array [C] with one threshold per label (`tune_label_thresholds`).
    "std" is the population standard deviation over labels (np.std); the macro-average row's support is
    the total support and the std row's support is NaN.
    """
    arr, truth, _ = _inputs(scores, labels, need_labels=False)
    names = [str(x) for x in label_names]
    if len(names) != arr.shape[1]:
        raise ValueError(f"{len(names)} label names for {arr.shape[1]} score columns")
    predicted = arr >= _threshold_vector(threshold, arr.shape[1])
    p, r, f, support = precision_recall_fscore_support(truth, predicted, average=None, zero_division=0)
    table = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": support.astype(np.float64)},
                         index=pd.Index(names, name="label"))
    summary = pd.DataFrame(
        {"precision": [p.mean(), np.std(p)], "recall": [r.mean(), np.std(r)], "f1": [f.mean(), np.std(f)],
         "support": [float(support.sum()), np.nan]},
        index=pd.Index(["macro-average", "std"], name="label"))
    return pd.concat([table, summary])


def threshold_prf(scores, labels, threshold) -> dict:
    """Macro and micro precision / recall / F1 of {score_ij >= threshold_j} (scikit-learn, zero_division=0).

    threshold: one global value or one per label. Keys: macro_precision, macro_recall, macro_f1,
    micro_precision, micro_recall, micro_f1.
    """
    arr, truth, _ = _inputs(scores, labels, need_labels=False)
    predicted = arr >= _threshold_vector(threshold, arr.shape[1])
    out = {}
    for average in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(truth, predicted, average=average, zero_division=0)
        out.update({f"{average}_precision": float(p), f"{average}_recall": float(r), f"{average}_f1": float(f)})
    return out


LABEL_RULE_SUFFIX = "_per_label_thresholds"


def candidates_name(grid=None) -> str:
    """What a `grid` argument of `tune_threshold` / `tune_label_thresholds` searches, in words."""
    if grid is None:
        return EXACT_CANDIDATES
    if isinstance(grid, numbers.Integral):
        return f"a {int(grid)}-point grid (default_threshold_grid)"
    return f"{np.size(grid)} given values"


def threshold_evaluation(dev_scores, dev_labels, test_scores, test_labels, label_names,
                         label_thresholds: bool = True, grid=None) -> dict:
    """Threshold metrics of one test set under the two rules, both tuned on dev only.

    Global rule: `threshold` (one value, `tune_threshold`), its macro_* / micro_* scores and `per_label`
    (Table 6 frame). Per-label rule (when `label_thresholds`): `label_thresholds` (array [C],
    `tune_label_thresholds`), the same scores with the suffix `_per_label_thresholds`
    (e.g. `macro_f1_per_label_thresholds`) and `per_label_at_label_thresholds` (Table 6 frame).
    grid: the thresholds searched, as in `tune_threshold` (default: every distinct dev score, exact);
    `threshold_candidates` says which, in words.
    """
    if np.shape(dev_scores)[1:] != np.shape(test_scores)[1:]:
        raise ValueError(f"dev scores {np.shape(dev_scores)} and test scores {np.shape(test_scores)} "
                         "have different label columns")
    threshold = tune_threshold(dev_scores, dev_labels, grid)
    out = {"threshold": threshold, "threshold_candidates": candidates_name(grid),
           **threshold_prf(test_scores, test_labels, threshold),
           "per_label": per_label_prf(test_scores, test_labels, threshold, label_names)}
    if label_thresholds:
        per_label = tune_label_thresholds(dev_scores, dev_labels, grid)
        out["label_thresholds"] = per_label
        out.update({k + LABEL_RULE_SUFFIX: v for k, v in threshold_prf(test_scores, test_labels, per_label).items()})
        out["per_label_at_label_thresholds"] = per_label_prf(test_scores, test_labels, per_label, label_names)
    return out


# --------------------------------------------------------------------------------------- correlations

def pearson_matrix(scores, label_names) -> pd.DataFrame:
    """Figs 2, 8, 9: Pearson correlation between score columns; a constant column gives NaN, silently."""
    arr = _as_scores(scores)
    names = [str(x) for x in label_names]
    if len(names) != arr.shape[1]:
        raise ValueError(f"{len(names)} label names for {arr.shape[1]} score columns")
    constant = np.ptp(arr, axis=0) == 0
    centered = arr - arr.mean(axis=0)
    norms = np.sqrt((centered ** 2).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (centered.T @ centered) / np.outer(norms, norms)
    corr = np.clip(corr, -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    corr[constant, :] = np.nan
    corr[:, constant] = np.nan
    return pd.DataFrame(corr, index=names, columns=names)


def plot_pearson_heatmap(matrix_df: pd.DataFrame, path, title: str) -> Path:
    """Draw a correlation matrix as a labelled PNG heatmap (values written in when C <= 12), atomically.

    Uses a bare Agg Figure (no pyplot state, no display); NaN cells are hatched. The PNG is written to a
    temporary file beside `path` and renamed into place, so a failed write leaves nothing behind.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    import matplotlib

    from .fileio import atomic_write

    values = np.asarray(matrix_df, dtype=np.float64)
    c = values.shape[0]
    size = max(5.0, 0.42 * c + 2.5)
    fig = Figure(figsize=(size + 1.2, size), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    cmap = matplotlib.colormaps["coolwarm"].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))
    ax.set_facecolor("white")
    ax.patch.set_hatch("xx")  # NaN cells are transparent and show this hatch
    ax.patch.set_edgecolor("#999999")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=Normalize(-1.0, 1.0),
                      interpolation="nearest", aspect="equal")
    fontsize = 10 if c <= 12 else 8
    ax.set_xticks(np.arange(c), labels=[str(x) for x in matrix_df.columns], rotation=60, ha="right",
                  rotation_mode="anchor", fontsize=fontsize)
    ax.set_yticks(np.arange(c), labels=[str(x) for x in matrix_df.index], fontsize=fontsize)
    ax.set_title(title)
    if c <= 12:
        for (i, j), v in np.ndenumerate(values):
            text = "nan" if np.isnan(v) else f"{v:.2f}"
            color = "white" if not np.isnan(v) and abs(v) > 0.6 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color=color)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Pearson r")
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png")
    return path


def plot_training_curves(history: dict, path, title: str) -> Path:
    """A stage's training curves as a PNG: train and dev loss, and each dev metric (val_*), per epoch.

    `history` maps a log key to one value per epoch (a run's metrics.json `history`); the best epoch is marked.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from .fileio import atomic_write

    metrics = [k for k in history if k.startswith("val_") and k != "val_loss" and isinstance(history[k], list)]
    fig = Figure(figsize=(5.5 * (1 + bool(metrics)), 4), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 1 + bool(metrics), squeeze=False)[0]
    best = history.get("best_epoch")
    panels = [(axes[0], ["loss", "val_loss"], "loss")] + ([(axes[1], metrics, "dev metric")] if metrics else [])
    for ax, keys, label in panels:
        for key in keys:
            values = history.get(key) or []
            ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
        if best:
            ax.axvline(best, color="#999999", linestyle=":", label=f"best epoch {best}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png")
    return path


# -------------------------------------------------------------------------------------------- reports

def _plain(value):
    """Convert NumPy / pandas values to JSON-safe builtins (NaN and infinities become None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _records(frame: pd.DataFrame) -> list:
    return _plain(frame.reset_index().to_dict("records"))


def evaluation_report(test_scores, test_labels, label_names, multi_label: bool,
                      dev_scores=None, dev_labels=None) -> dict:
    """Every paper metric for one test set as a JSON-serializable dict (Tables 3-6).

    Threshold metrics (macro/micro P/R/F1, Table 6) need dev scores: the threshold is tuned on dev
    and applied to test. Tables 4 and 5 are added for multi-label data (they need no threshold), and so
    is the per-label threshold rule: `label_thresholds` (one per label, in label_names order),
    `macro_f1_per_label_thresholds` etc. and `per_label_at_label_thresholds` (see `threshold_evaluation`).
    """
    arr, _, _ = _inputs(test_scores, test_labels)
    names = [str(x) for x in label_names]
    if len(names) != arr.shape[1]:
        raise ValueError(f"{len(names)} label names for {arr.shape[1]} score columns")
    if (dev_scores is None) != (dev_labels is None):
        raise ValueError("dev_scores and dev_labels must be given together")
    prf = sample_prf(arr, test_labels)
    report = {
        "num_texts": arr.shape[0], "num_labels": arr.shape[1], "label_names": names,
        "multi_label": bool(multi_label),
        "accuracy": accuracy(arr, test_labels), "hit_rate": hit_rate(arr, test_labels),
        "sample_precision": prf["precision"], "sample_recall": prf["recall"], "sample_f1": prf["f1"],
    }
    report["table3_metric"] = table3_measure(multi_label)[0]
    report["table3"] = report[report["table3_metric"]]
    if multi_label:
        report["hits_by_label_count"] = _records(hits_by_label_count(arr, test_labels))
        report["topk_expansion"] = _records(topk_expansion(arr, test_labels, ks=range(1, min(3, arr.shape[1]) + 1)))
    if dev_scores is not None:
        evaluation = threshold_evaluation(dev_scores, dev_labels, arr, test_labels, names, multi_label)
        report.update({k: _records(v) if isinstance(v, pd.DataFrame) else v for k, v in evaluation.items()})
    return _plain(report)


from .options import SUMMARY_KEYS as _SUMMARY_KEYS  # noqa: E402  (a model card reads them without scikit-learn)


def _frame(records, index: str) -> pd.DataFrame:
    return pd.DataFrame.from_records(records).set_index(index)


def format_tables(report: dict) -> str:
    """Plain-text Tables 3-6 of an `evaluation_report` dict (also after a JSON round trip)."""
    fmt = "{:.4f}".format
    blocks = []
    metric = report.get("table3_metric", "accuracy")
    summary = pd.DataFrame({"value": [report[k] for k in _SUMMARY_KEYS if k in report]},
                           index=pd.Index([k for k in _SUMMARY_KEYS if k in report], name="metric"))
    blocks.append(f"Table 3 ({metric}): {fmt(report['table3'])}\n" + summary.to_string(float_format=fmt))
    if report.get("hits_by_label_count"):
        blocks.append("Table 4: hits by number of labels (top-k_i)\n"
                      + _frame(report["hits_by_label_count"], "class").to_string(float_format=fmt, na_rep=""))
    if report.get("topk_expansion"):
        table5 = _frame(report["topk_expansion"], "class")
        table5["increment"] = [str(v) if i == 0 else f"+{v}" for i, v in enumerate(table5["increment"])]
        blocks.append("Table 5: single-label texts, true label within top-k\n"
                      + table5.to_string(float_format=fmt, na_rep=""))
    if report.get("per_label"):
        blocks.append(f"Table 6: per-label scores at threshold {report['threshold']:.4g}\n"
                      + _table6_text(report["per_label"]))
    if report.get("per_label_at_label_thresholds"):
        thresholds = report["label_thresholds"]
        blocks.append("Table 6 at per-label thresholds (each tuned for its label's F1 on dev)\n"
                      + _table6_text(report["per_label_at_label_thresholds"], thresholds))
    return "\n\n".join(blocks) + "\n"


def _table6_text(records, thresholds=None) -> str:
    table6 = _frame(records, "label")
    table6["support"] = [("" if v is None or pd.isna(v) else str(int(v))) for v in table6["support"]]
    if thresholds is not None:  # one per label row; none on the macro-average and std rows
        table6["threshold"] = [f"{v:.4g}" for v in thresholds] + [""] * (len(table6) - len(thresholds))
    return table6.to_string(float_format=lambda v: f"{v:.2f}", na_rep="")
