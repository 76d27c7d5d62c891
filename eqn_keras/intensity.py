"""Energies against human intensity ratings: the gold sets, their emotions mapped onto a run's labels, and
the correlation report (Pearson r, Spearman rho, Pearson on the texts rated at least moderate and on those
rated below it), each with a bootstrap 95% interval.

Gold sets come in two formats: BRIGHTER's CSV (a `text` column and one numeric column per emotion, every
text rated for every emotion, 0-3) and EmoInt's TSV (`id<TAB>text<TAB>emotion<TAB>intensity`, one emotion
per line, 0-1; several files are read as one set). The named sets `brighter-eng` and `emoint` are found like
the training datasets (`EQN_DATA_DIR`, the cache, or their cards' URLs). Their test splits are held back:
the cards name only the released train and dev files.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .fileio import InputError, Param, exclusive, lock_path, parse_range, read_table, read_text, require_column, write_json

INTENSITY_FILE = "intensity.json"
BRIGHTER_SCALE = (0.0, 3.0)
EMOINT_SCALE = (0.0, 1.0)
RESAMPLES = 1000
MAX_UNDEFINED = 0.05  # the largest share of bootstrap resamples in which a metric may be undefined
METRICS = ("pearson", "spearman", "pearson_moderate", "pearson_low")
METRIC_TITLES = {"pearson": "Pearson r", "spearman": "Spearman rho",
                 "pearson_moderate": "Pearson r, gold >= moderate", "pearson_low": "Pearson r, gold < moderate"}


@dataclass
class GoldSet:
    """Texts rated for emotion intensity: `ratings` [N, E] in `scale`, NaN where a text has no rating."""

    name: str
    texts: list
    emotions: list
    ratings: np.ndarray
    scale: tuple
    files: list = field(default_factory=list)

    def __len__(self):
        return len(self.texts)

    @property
    def moderate(self) -> float:
        """The middle of the scale: BRIGHTER's 'moderate' (2 of 0-3), EmoInt's 0.5 (its second metric's cut)."""
        low, high = self.scale
        return low + (high - low) / 2


def parse_scale(value, default) -> tuple:
    """(low, high) from 'LO,HI' (or a pair); `default` when None."""
    return parse_range(value, "scale") or tuple(float(v) for v in default)


def _rating(cell, where: str, column: str, scale) -> float:
    low, high = scale
    try:
        value = float(str(cell).strip())
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise InputError(f"{where}: {column} holds {str(cell)!r}; expected a rating from {low:g} to {high:g}")
    if not low <= value <= high:
        raise InputError(f"{where}: {column} holds {value:g}, outside the rating scale {low:g}..{high:g}"
                         " (pass ", Param("scale", "LO,HI"), " for another scale)")
    return value


def read_brighter(path, scale=None) -> GoldSet:
    """BRIGHTER's CSV: a `text` column and one rating column per emotion (every column but `id` and `text`)."""
    scale = parse_scale(scale, BRIGHTER_SCALE)
    frame = read_table(path, fmt="csv")
    require_column(frame, "text", path)
    emotions = [c for c in frame.columns if c.lower() not in ("id", "text")]
    if not emotions:
        raise InputError(f"{path}: no emotion columns; expected columns id, text and one rating column per emotion")
    if len(frame) == 0:
        raise InputError(f"{path}: no rows; expected one rated text per row")
    ratings = np.empty((len(frame), len(emotions)), dtype=np.float64)
    for j, emotion in enumerate(emotions):
        for i, cell in enumerate(frame[emotion].tolist()):
            ratings[i, j] = _rating(cell, f"{path}: row {i + 1}", f"column '{emotion}'", scale)
    texts = frame["text"].tolist()
    for i, text in enumerate(texts):
        if not str(text).strip():
            raise InputError(f"{path}: row {i + 1}: text in column 'text' is empty; expected non-empty text")
    return GoldSet(str(path), texts, emotions, ratings, scale, [str(path)])


def read_emoint(paths, scale=None) -> GoldSet:
    """EmoInt's TSV files, `id<TAB>text<TAB>emotion<TAB>intensity` per line, read as one set: each text is
    rated for its line's emotion only (NaN for the others)."""
    scale = parse_scale(scale, EMOINT_SCALE)
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    texts, rows = [], []
    for path in paths:
        lines = [line.rstrip("\r") for line in read_text(path).split("\n")]
        if not any(line.strip() for line in lines):
            raise InputError(f"{path}: file is empty; expected lines 'id<TAB>text<TAB>emotion<TAB>intensity'")
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) != 4:
                raise InputError(f"{path}:{lineno}: {len(cells)} tab-separated columns; expected 4 "
                                 "(id, text, emotion, intensity)")
            _, text, emotion, score = cells
            if not text.strip():
                raise InputError(f"{path}:{lineno}: the text (column 2) is empty; expected non-empty text")
            if not emotion.strip():
                raise InputError(f"{path}:{lineno}: the emotion (column 3) is empty; expected an emotion name")
            texts.append(text)
            rows.append((emotion.strip(), _rating(score, f"{path}:{lineno}", "column 4", scale)))
    emotions = list(dict.fromkeys(e for e, _ in rows))
    ratings = np.full((len(rows), len(emotions)), np.nan)
    for i, (emotion, value) in enumerate(rows):
        ratings[i, emotions.index(emotion)] = value
    name = str(paths[0]) if len(paths) == 1 else f"{len(paths)} files"
    return GoldSet(name, texts, emotions, ratings, scale, [str(p) for p in paths])


def read_gold_files(paths, scale=None) -> GoldSet:
    """Gold files by format: .csv is BRIGHTER's layout, anything else EmoInt's TSV."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    csvs = [p for p in paths if Path(p).suffix.lower() == ".csv"]
    if csvs and len(csvs) != len(paths):
        raise InputError(f"{csvs[0]}: a BRIGHTER-style CSV cannot be mixed with EmoInt-style TSV files")
    if not csvs:
        return read_emoint(paths, scale)
    sets = [read_brighter(p, scale) for p in paths]
    for other in sets[1:]:
        if other.emotions != sets[0].emotions:
            raise InputError(f"{other.name}: emotion columns {other.emotions} differ from {sets[0].name}'s "
                             f"{sets[0].emotions}")
    if len(sets) == 1:
        return sets[0]
    return GoldSet(f"{len(sets)} files", sum((s.texts for s in sets), []), sets[0].emotions,
                   np.concatenate([s.ratings for s in sets]), sets[0].scale, [str(p) for p in paths])


def load_gold(spec, data_dir=None, scale=None) -> GoldSet:
    """A gold set by name (`brighter-eng`, `emoint`; `NAME:ROLE[+ROLE]` for some of its files, e.g.
    `brighter-eng:dev`) or by path(s) of a file in either format. A name reads every released file."""
    from .datasets import GOLD_NAMES, fetch_file, load_gold_card

    specs = [spec] if isinstance(spec, (str, Path)) else list(spec)
    if len(specs) == 1 and str(specs[0]).split(":")[0].lower() in GOLD_NAMES and not Path(specs[0]).exists():
        name, _, roles = str(specs[0]).lower().partition(":")
        card = load_gold_card(name)
        wanted = roles.split("+") if roles else list(card["files"])
        for role in wanted:
            if role not in card["files"]:
                raise InputError(Param("gold", specs[0]), f": {name} has no file '{role}'; expected one of "
                                 f"{', '.join(card['files'])}")
        paths = [fetch_file(card, role, data_dir)[0] for role in wanted]
        gold = read_gold_files(paths, scale if scale is not None else card["scale"])
        gold.name = specs[0] if roles else name
        return gold
    for path in specs:
        if not Path(path).is_file():
            raise InputError(Param("gold", path), f": no such file; expected {' or '.join(GOLD_NAMES)} or a gold file "
                             "(BRIGHTER-style .csv or EmoInt-style .txt/.tsv)")
    return read_gold_files(specs, scale)


def parse_mapping(value) -> dict:
    """'gold=label,gold2=label2' (or a dict) as {gold emotion (lower case): run label}."""
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(k).lower(): str(v) for k, v in value.items()}
    mapping = {}
    for part in str(value).split(","):
        gold, sep, label = part.partition("=")
        if not sep or not gold.strip() or not label.strip():
            raise InputError(Param("mapping", value), f": '{part}' is not GOLD=LABEL; expected e.g. "
                             "joy=happiness,anger=rage")
        mapping[gold.strip().lower()] = label.strip()
    return mapping


def map_emotions(emotions, label_names, mapping=None) -> list:
    """The run's label index of each gold emotion: `mapping` first, else the same name (case-insensitive)."""
    mapping = parse_mapping(mapping)
    by_name = {str(n).lower(): i for i, n in enumerate(label_names)}
    unknown = set(mapping) - {e.lower() for e in emotions}
    if unknown:
        raise InputError(Param("mapping"), f": {', '.join(sorted(unknown))} is not an emotion of the gold set "
                         f"({', '.join(emotions)})")
    columns = []
    for emotion in emotions:
        target = mapping.get(emotion.lower(), emotion).lower()
        if target not in by_name:
            raise InputError(f"gold emotion '{emotion}' has no label '{target}' in the run (labels: "
                             f"{', '.join(label_names)}); pass ", Param("mapping", f"{emotion}=LABEL"))
        columns.append(by_name[target])
    return columns


def _pearson(x: np.ndarray, y: np.ndarray, weight=None) -> np.ndarray:
    """Pearson r along the last axis; `weight` (0/1, same shape) restricts it to some texts. NaN when a
    side is constant or fewer than 3 texts count."""
    if weight is None:
        weight = np.ones_like(x)
    count = weight.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = (x - (weight * x).sum(-1, keepdims=True) / count) * weight
        yc = (y - (weight * y).sum(-1, keepdims=True) / count) * weight
        r = (xc * yc).sum(-1) / np.sqrt((xc * xc).sum(-1) * (yc * yc).sum(-1))
    return np.where(count[..., 0] >= 3, r, np.nan)


def _metrics(pred: np.ndarray, gold: np.ndarray, moderate: float) -> np.ndarray:
    """[4, ...]: the METRICS of one emotion's predictions against its ratings (NaN: not rated), along the last axis."""
    from scipy.stats import rankdata

    rated = ~np.isnan(gold)
    filled = np.where(rated, gold, 0.0)
    high = rated & (filled >= moderate)
    ranks = [np.nan_to_num(rankdata(np.where(rated, v, np.nan), axis=-1, nan_policy="omit")) for v in (pred, gold)]
    return np.stack([_pearson(pred, filled, rated), _pearson(*ranks, rated),
                     _pearson(pred, filled, high), _pearson(pred, filled, rated & ~high)])


class _Statistic:
    """Every emotion's METRICS and their averages over emotions, from resampled text indices.

    Texts are grouped by which emotions they are rated for (all of them in BRIGHTER, one in EmoInt) and each
    group is resampled on its own, so every resample keeps each emotion's number of rated texts; when some
    group has a single text (scattered unrated cells), all texts are resampled together.
    """

    def __init__(self, pred: np.ndarray, gold: GoldSet):
        self.pred, self.ratings, self.moderate = pred.astype(np.float64), gold.ratings, gold.moderate
        rated = ~np.isnan(gold.ratings)
        for e, count in enumerate(rated.sum(0)):
            if count < 3:
                raise InputError(f"{gold.name}: emotion '{gold.emotions[e]}' has {count} rated texts; "
                                 "expected at least 3")
        patterns = {}
        for i, row in enumerate(map(tuple, rated)):
            patterns.setdefault(row, []).append(i)
        self.groups = [np.asarray(rows) for rows in patterns.values()]
        if min(len(g) for g in self.groups) < 2:
            self.groups = [np.arange(len(rated))]

    def __call__(self, *groups, axis=-1) -> np.ndarray:
        index = np.concatenate(groups, axis=-1)
        per_emotion = np.stack([_metrics(self.pred[index, e], self.ratings[index, e], self.moderate)
                                for e in range(self.ratings.shape[1])])  # [E, 4, ...]
        return np.concatenate([per_emotion.reshape(-1, *per_emotion.shape[2:]), per_emotion.mean(0)])


def _value(value, low, high) -> dict:
    plain = lambda v: None if not np.isfinite(v) else round(float(v), 4)  # noqa: E731
    return {"value": plain(value), "ci95": [plain(low), plain(high)]}


def intensity_report(predicted, gold: GoldSet, resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """Per emotion and averaged over emotions: Pearson r, Spearman rho and Pearson r on the texts rated at or
    above / below the scale's middle, each with a percentile bootstrap 95% interval over texts.

    `predicted` [N, E]: one score per text and gold emotion (the run's columns picked by `map_emotions`).
    """
    from scipy.stats import DegenerateDataWarning, bootstrap

    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.shape != gold.ratings.shape:
        raise ValueError(f"predicted must be [N={len(gold)}, E={len(gold.emotions)}], got {predicted.shape}")
    statistic = _Statistic(predicted, gold)
    point = statistic(*statistic.groups)
    if resamples:
        with warnings.catch_warnings():  # handled below: scipy's interval is NaN if any one resample is
            warnings.simplefilter("ignore", DegenerateDataWarning)
            result = bootstrap(tuple(statistic.groups), statistic, n_resamples=resamples, vectorized=True,
                               paired=False, method="percentile", batch=50, rng=np.random.default_rng(seed))
        # A subset metric can be undefined in a few resamples (e.g. all of a rare rating drawn out): the interval is
        # taken over the defined ones, and given only when at most MAX_UNDEFINED of the resamples are undefined.
        distribution = result.bootstrap_distribution
        undefined = np.isnan(distribution).mean(axis=-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: an undefined metric
            low, high = np.nanpercentile(distribution, [2.5, 97.5], axis=-1)
        low, high = (np.where(undefined <= MAX_UNDEFINED, bound, np.nan) for bound in (low, high))
    else:
        low = high = np.full_like(point, np.nan)
    k = len(METRICS)
    emotions = {}
    for e, emotion in enumerate(gold.emotions):
        rated = gold.ratings[~np.isnan(gold.ratings[:, e]), e]
        emotions[emotion] = {"texts": int(len(rated)), "texts_moderate": int((rated >= gold.moderate).sum()),
                             **{m: _value(point[e * k + i], low[e * k + i], high[e * k + i])
                                for i, m in enumerate(METRICS)}}
    base = len(gold.emotions) * k
    average = {m: _value(point[base + i], low[base + i], high[base + i]) for i, m in enumerate(METRICS)}
    return {"gold": gold.name, "files": gold.files, "texts": len(gold), "scale": list(gold.scale),
            "moderate_from": gold.moderate, "emotions": emotions, "average": average,
            "bootstrap": {"resamples": resamples, "confidence": 0.95, "method": "percentile", "seed": seed,
                          "interval_over": f"the resamples where the metric is defined (none if over {MAX_UNDEFINED:.0%} "
                                           "are not)",
                          "unit": "texts" if len(statistic.groups) == 1 else
                                  "texts, resampled within each set of texts rated for the same emotions"}}


def evaluate_intensity(run_dir, gold, stage: str | None = None, mapping=None, data_dir=None, scale=None,
                       resamples: int = RESAMPLES, seed: int = 0, batch_size: int | None = None,
                       output=None, annotator=None) -> dict:
    """Score a gold set with a trained run and report how its scores follow the human ratings.

    Scores are what users see: an energy head's energies clipped to the run's range, a baseline head's
    probabilities. The report is also written into `output` (default RUN_DIR/intensity.json, keyed by stage
    and gold set, so reports of other stages and sets are kept).
    """
    from .annotate import Annotator

    gold = gold if isinstance(gold, GoldSet) else load_gold(gold, data_dir, scale)
    annotator = annotator or Annotator(run_dir, stage)
    columns = map_emotions(gold.emotions, annotator.label_names, mapping)
    scores = annotator.score(gold.texts, batch_size=batch_size)[:, columns]
    report = intensity_report(scores, gold, resamples, seed)
    report = {"run": str(run_dir), "stage": annotator.stage,
              "scores": "probability" if annotator.energy_range is None else
                        "energy, clipped to {:g}-{:g}".format(*annotator.energy_range),
              "mapping": {e: annotator.label_names[c] for e, c in zip(gold.emotions, columns)}, **report}
    path = Path(output) if output is not None else Path(run_dir) / INTENSITY_FILE
    with exclusive(lock_path(path), path):  # read, add this report, write: one job at a time
        stored = {}
        if path.is_file():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                raise InputError(f"{path}: not valid JSON; delete it or pass another ", Param("output")) from None
        stored.setdefault(annotator.stage, {})[gold.name] = report
        write_json(path, stored)
    return report


def format_report(report: dict) -> str:
    """The report as a plain-text table: one row per emotion and the average, value [95% interval]."""
    def cell(entry):
        v, (lo, hi) = entry["value"], entry["ci95"]
        show = lambda x: "  n/a" if x is None else f"{x:+.3f}"  # noqa: E731
        return f"{show(v)} [{show(lo)}, {show(hi)}]"

    head = f"{'emotion':<10} {'texts':>5}  " + "  ".join(f"{METRIC_TITLES[m]:<26}" for m in METRICS)
    lines = [f"{report['gold']} ({report['texts']} texts) vs {report['run']}:{report['stage']} ({report['scores']})",
             head]
    for emotion, row in report["emotions"].items():
        lines.append(f"{emotion:<10} {row['texts']:>5}  " + "  ".join(f"{cell(row[m]):<26}" for m in METRICS))
    lines.append(f"{'average':<10} {'':>5}  " + "  ".join(f"{cell(report['average'][m]):<26}" for m in METRICS))
    return "\n".join(lines)
