"""Tests of eqn_keras.metrics: hand-computed examples, agreement with scikit-learn, edge cases."""

import json
import math
import os
import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from eqn_keras import groupings as g
from eqn_keras import metrics as m
from eqn_keras.fileio import InputError

# Six texts, four labels. Orders (stable argsort of -scores) written out by hand:
#   r0 [.9 .1 .5 .3]   true {0}      order 0,2,3,1  argmax 0 hit  top1 hits 1   true rank 0
#   r1 [.2 .8 .7 .1]   true {1,3}    order 1,2,0,3  argmax 1 hit  top2 {1,2} hits 1
#   r2 [.4 .3 .2 .6]   true {2}      order 3,0,1,2  argmax 3 miss top1 hits 0   true rank 3
#   r3 [.5 .6 .1 .55]  true {0,1,3}  order 1,3,0,2  argmax 1 hit  top3 {1,3,0} hits 3
#   r4 [.3 .2 .25 .1]  true {1}      order 0,2,1,3  argmax 0 miss top1 hits 0   true rank 2
#   r5 [.1 .9 .2 .3]   true {3}      order 1,3,2,0  argmax 1 miss top1 hits 0   true rank 1
SCORES = np.array([
    [0.9, 0.1, 0.5, 0.3],
    [0.2, 0.8, 0.7, 0.1],
    [0.4, 0.3, 0.2, 0.6],
    [0.5, 0.6, 0.1, 0.55],
    [0.3, 0.2, 0.25, 0.1],
    [0.1, 0.9, 0.2, 0.3],
])
LABELS = [(0,), (1, 3), (2,), (0, 1, 3), (1,), (3,)]
NAMES = ["joy", "anger", "fear", "love"]


def random_case(n=300, c=28, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, c)) < 0.06
    labels = [tuple(int(j) for j in np.flatnonzero(row)) or (int(rng.integers(c)),) for row in truth]
    scores = rng.random((n, c)) * 10
    scores[m.multi_hot(labels, c)] += 2.5
    return scores, labels


# ------------------------------------------------------------------------------------------ multi_hot

def test_multi_hot_hand_example():
    expected = np.array([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0], [1, 1, 0, 1], [0, 1, 0, 0], [0, 0, 0, 1]],
                        dtype=bool)
    got = m.multi_hot(LABELS, 4)
    assert got.dtype == bool and got.shape == (6, 4)
    np.testing.assert_array_equal(got, expected)


def test_multi_hot_duplicates_bare_ints_and_empty_rows():
    got = m.multi_hot([(2, 2), 1, (), (np.int64(0),)], 3)
    np.testing.assert_array_equal(got, [[0, 0, 1], [0, 1, 0], [0, 0, 0], [1, 0, 0]])


@pytest.mark.parametrize("labels", [[(3,)], [(-1,)], [("1",)], [(0.5,)]])
def test_multi_hot_rejects_bad_ids(labels):
    with pytest.raises(ValueError):
        m.multi_hot(labels, 3)


# --------------------------------------------------------------------------------- top-k and accuracy

def test_accuracy_hand_example():
    assert m.accuracy(SCORES, LABELS) == pytest.approx(3 / 6)  # r0, r1, r3


def test_accuracy_single_label_matches_sklearn():
    scores, labels = random_case(seed=1)
    single = [lab[:1] for lab in labels]
    expected = accuracy_score([lab[0] for lab in single], scores.argmax(axis=1))
    assert m.accuracy(scores, single) == pytest.approx(expected)


def test_top_k_sets_per_row_k():
    got = m.top_k_sets(SCORES, [1, 2, 1, 3, 1, 1])
    expected = [[0], [1, 2], [3], [1, 3, 0], [0], [1]]
    assert [list(x) for x in got] == expected


def test_top_k_sets_scalar_k_and_zero():
    assert [list(x) for x in m.top_k_sets(SCORES[:2], 2)] == [[0, 2], [1, 2]]
    assert [list(x) for x in m.top_k_sets(SCORES[:2], [0, 4])] == [[], [1, 2, 0, 3]]
    with pytest.raises(ValueError):
        m.top_k_sets(SCORES, 5)


def test_ties_lower_index_wins():
    # Tie rule: stable argsort of -scores, so among equal scores the lower label index ranks first.
    tied = np.array([[1.0, 3.0, 3.0, 3.0, 0.0]])
    assert list(m.top_k_sets(tied, 2)[0]) == [1, 2]
    assert m.top_k_mask(tied, 2).tolist() == [[False, True, True, False, False]]
    assert m.accuracy(tied, [(1,)]) == 1.0
    assert m.accuracy(tied, [(2,)]) == 0.0
    assert m.hit_rate(tied, [(2, 3)]) == 0.5  # top-2 is {1, 2}
    table5 = m.topk_expansion(tied, [(3,)])
    assert table5["hits"].tolist() == [0, 0, 1]  # label 3 ranks third behind 1 and 2


def test_nan_scores_rejected():
    bad = SCORES.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="row 2"):
        m.accuracy(bad, LABELS)


def test_mismatched_lengths_and_empty_label_rows_rejected():
    with pytest.raises(ValueError):
        m.hit_rate(SCORES, LABELS[:-1])
    with pytest.raises(ValueError, match="no true label"):
        m.hit_rate(SCORES, LABELS[:-1] + [()])


# ------------------------------------------------------------------------------ eqs 10-15, Tables 4-5

def test_sample_prf_hand_example():
    # per-sample hits/k_i: 1/1, 1/2, 0/1, 3/3, 0/1, 0/1 -> mean 2.5 / 6
    got = m.sample_prf(SCORES, LABELS)
    assert set(got) == {"precision", "recall", "f1"}
    for value in got.values():
        assert value == pytest.approx(2.5 / 6)


def test_sample_prf_matches_sklearn_samples_average():
    scores, labels = random_case(seed=2)
    truth = m.multi_hot(labels, 28)
    predicted = m.top_k_mask(scores, truth.sum(axis=1))
    p, r, f, _ = precision_recall_fscore_support(truth, predicted, average="samples", zero_division=0)
    got = m.sample_prf(scores, labels)
    assert got["precision"] == pytest.approx(p)
    assert got["recall"] == pytest.approx(r)
    assert got["f1"] == pytest.approx(f)


def test_hit_rate_hand_example_and_single_label_equals_accuracy():
    assert m.hit_rate(SCORES, LABELS) == pytest.approx(5 / 9)  # hits 1+1+0+3+0+0 over 9 labels
    scores, labels = random_case(seed=3)
    single = [lab[:1] for lab in labels]
    assert m.hit_rate(scores, single) == pytest.approx(m.accuracy(scores, single))


def test_single_row():
    row = np.array([[0.1, 0.7, 0.2]])
    assert m.accuracy(row, [(1,)]) == 1.0
    assert m.sample_prf(row, [(0, 1)])["f1"] == pytest.approx(0.5)  # top-2 {1, 2} hits 1 of 2
    assert m.hit_rate(row, [(0, 1)]) == pytest.approx(0.5)
    assert m.hits_by_label_count(row, [(0, 1)]).loc["Total", "hits"] == 1


def test_hits_by_label_count_hand_example():
    table = m.hits_by_label_count(SCORES, LABELS)
    assert list(table.index) == ["1 label", "2 labels", "3 labels", "Total"]
    assert list(table.columns) == ["corpus", "labels", "hits", "hit_rate"]
    assert table["corpus"].tolist() == [4, 1, 1, 6]
    assert table["labels"].tolist() == [4, 2, 3, 9]
    assert table["hits"].tolist() == [1, 1, 3, 5]
    np.testing.assert_allclose(table["hit_rate"], [0.25, 0.5, 1.0, 5 / 9])


def _rows_with_hits(k, hits, c=28):
    """A score row whose k true labels (0..k-1) get exactly `hits` of the top-k places."""
    row = np.zeros(c)
    row[:hits] = 10.0               # true labels that make it into the top-k
    row[k:k + (k - hits)] = 9.0     # wrong labels filling the rest of the top-k
    return row, tuple(range(k))


def test_hits_by_label_count_reproduces_paper_table4_coeqn():
    # Table 4, CoEQN: (texts, hits) per label count; hits spread so that each row has at most k hits.
    plan = {1: [(1, 2416), (0, 4590 - 2416)],
            2: [(1, 565), (0, 774 - 565)],
            3: [(3, 27), (2, 1), (0, 61 - 28)],   # 81 + 2 = 83 hits
            4: [(4, 1), (1, 1)]}                 # 4 + 1 = 5 hits
    rows, labels = [], []
    for k, parts in plan.items():
        for hits, count in parts:
            row, lab = _rows_with_hits(k, hits)
            rows.append(np.repeat(row[None], count, axis=0))
            labels += [lab] * count
    table = m.hits_by_label_count(np.concatenate(rows), labels)
    assert table["corpus"].tolist() == [4590, 774, 61, 2, 5427]
    assert table["labels"].tolist() == [4590, 1548, 183, 8, 6329]
    assert table["hits"].tolist() == [2416, 565, 83, 5, 3069]
    assert table["hit_rate"].round(4).tolist() == [0.5264, 0.3650, 0.4536, 0.6250, 0.4849]
    assert m.hit_rate(np.concatenate(rows), labels) == pytest.approx(3069 / 6329)


def test_topk_expansion_hand_example():
    # single-label rows r0, r2, r4, r5 with true ranks 0, 3, 2, 1; the multi-label rows are ignored.
    table = m.topk_expansion(SCORES, LABELS)
    assert list(table.index) == ["Top1", "Top2", "Top3"]
    assert table["corpus"].tolist() == [4, 4, 4]
    assert table["labels"].tolist() == [4, 4, 4]
    assert table["hits"].tolist() == [1, 2, 3]
    assert table["increment"].tolist() == [1, 1, 1]
    np.testing.assert_allclose(table["hit_rate"], [0.25, 0.5, 0.75])


def test_topk_expansion_reproduces_paper_table5():
    # Row scores 27, 26, ..., 0 put label r at rank r; 2416 texts at rank 0, 761 at 1, 401 at 2, rest at 5.
    ranks = np.repeat([0, 1, 2, 5], [2416, 761, 401, 4590 - 2416 - 761 - 401])
    scores = np.tile(np.arange(27, -1, -1, dtype=float), (4590, 1))
    table = m.topk_expansion(scores, [(int(r),) for r in ranks])
    assert table["hits"].tolist() == [2416, 3177, 3578]
    assert table["increment"].tolist() == [2416, 761, 401]
    assert table["hit_rate"].round(4).tolist() == [0.5264, 0.6922, 0.7795]


def test_topk_expansion_without_single_label_texts():
    table = m.topk_expansion(SCORES[[1, 3]], [LABELS[1], LABELS[3]], ks=(1, 2))
    assert table["corpus"].tolist() == [0, 0]
    assert table["hit_rate"].isna().all()


# ----------------------------------------------------------------------------- threshold and Table 6

def test_per_label_prf_hand_example():
    # Predicted at >= 0.5: r0 {0,2} r1 {1,2} r2 {3} r3 {0,1,3} r4 {} r5 {1}
    # joy   TP2 FP0 FN0 -> 1, 1, 1            support 2
    # anger TP2 FP1 FN1 -> 2/3, 2/3, 2/3      support 3
    # fear  TP0 FP2 FN1 -> 0, 0, 0            support 1
    # love  TP1 FP1 FN2 -> 1/2, 1/3, 2/5      support 3
    table = m.per_label_prf(SCORES, LABELS, 0.5, NAMES)
    assert list(table.index) == NAMES + ["macro-average", "std"]
    assert list(table.columns) == ["precision", "recall", "f1", "support"]
    p, r, f = [1, 2 / 3, 0, 1 / 2], [1, 2 / 3, 0, 1 / 3], [1, 2 / 3, 0, 2 / 5]
    np.testing.assert_allclose(table["precision"].iloc[:4], p)
    np.testing.assert_allclose(table["recall"].iloc[:4], r)
    np.testing.assert_allclose(table["f1"].iloc[:4], f)
    assert table["support"].iloc[:4].tolist() == [2, 3, 1, 3]
    macro = table.loc["macro-average"]
    assert macro["precision"] == pytest.approx((1 + 2 / 3 + 0 + 1 / 2) / 4)
    assert macro["recall"] == pytest.approx(0.5)
    assert macro["f1"] == pytest.approx((1 + 2 / 3 + 0 + 2 / 5) / 4)
    assert macro["support"] == 9

    def pop_std(values):
        mean = sum(values) / len(values)
        return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))

    std = table.loc["std"]
    assert std["precision"] == pytest.approx(pop_std(p))
    assert std["recall"] == pytest.approx(pop_std(r))
    assert std["f1"] == pytest.approx(pop_std(f))
    assert np.isnan(std["support"])


def test_per_label_prf_label_never_predicted_nor_true_is_quiet():
    # "fear" is never true and never predicted at 0.95: all zero (zero_division=0) and no warnings.
    scores = np.array([[0.99, 0.1, 0.2, 0.0], [0.1, 0.96, 0.3, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = m.per_label_prf(scores, [(0,), (1, 3)], 0.95, NAMES)
    assert table.loc["fear", ["precision", "recall", "f1", "support"]].tolist() == [0, 0, 0, 0]
    assert table.loc["love", ["precision", "recall", "f1", "support"]].tolist() == [0, 0, 0, 1]


def test_per_label_prf_matches_sklearn():
    scores, labels = random_case(seed=4)
    truth = m.multi_hot(labels, 28)
    table = m.per_label_prf(scores, labels, 8.0, [f"l{i}" for i in range(28)])
    p, r, f, s = precision_recall_fscore_support(truth, scores >= 8.0, average=None, zero_division=0)
    np.testing.assert_allclose(table["precision"].iloc[:28], p)
    np.testing.assert_allclose(table["f1"].iloc[:28], f)
    _, _, macro_f1, _ = precision_recall_fscore_support(truth, scores >= 8.0, average="macro", zero_division=0)
    assert table.loc["macro-average", "f1"] == pytest.approx(macro_f1)


def test_tune_threshold_hand_example():
    # label 0 positives 0.9, 0.8 / negatives 0.3, 0.1; label 1 positives 0.7, 0.6 / negatives 0.2, 0.4
    scores = np.array([[0.9, 0.2], [0.8, 0.7], [0.3, 0.6], [0.1, 0.4]])
    labels = [(0,), (0, 1), (1,), ()]
    # h=0.5 separates both labels (macro-F1 1); h=0.65 drops 0.6 (label 1 F1 2/3); h=0.3 over-predicts (0.8)
    assert m.tune_threshold(scores, labels, grid=[0.1, 0.3, 0.5, 0.65, 0.85]) == 0.5
    # equally good candidates: the lowest wins
    assert m.tune_threshold(scores, labels, grid=[0.55, 0.45, 0.5]) == 0.45
    h = m.tune_threshold(scores, labels)
    assert 0.4 < h <= 0.6


def test_tune_threshold_energy_scale():
    # energies 0..10: true labels near 6..10, others 0..4 -> any h in (4, 6] is perfect
    rng = np.random.default_rng(5)
    truth = rng.random((200, 6)) < 0.3
    scores = np.where(truth, rng.uniform(6, 10, truth.shape), rng.uniform(0, 4, truth.shape))
    labels = [tuple(np.flatnonzero(row)) for row in truth]
    h = m.tune_threshold(scores, labels)
    assert 4 < h <= scores[truth].min()  # every distinct score searched: the lowest perfect one is a positive's
    assert m.per_label_prf(scores, labels, h, list("abcdef")).loc["macro-average", "f1"] == pytest.approx(1.0)


def test_macro_curve_matches_sklearn_at_every_candidate():
    scores, labels = random_case(n=120, c=9, seed=6)
    scores[:, 4] = 0.0   # a label nobody predicts above 0
    truth = m.multi_hot(labels, 9)
    truth[:, 7] = False  # a label with no support
    grid = m.default_threshold_grid(scores)
    assert 50 <= grid.size <= 200
    curve = m._macro_curve(scores, truth, grid)
    for h, value in zip(grid, curve):
        expected = precision_recall_fscore_support(truth, scores >= h, average="macro", zero_division=0)[2]
        assert value == pytest.approx(expected, abs=1e-12)
    labels = [tuple(np.flatnonzero(r)) for r in truth]
    best = m.tune_threshold(scores, labels, grid=grid)
    assert curve[np.flatnonzero(grid == best)[0]] == pytest.approx(curve.max())
    # the default searches every distinct score: the first best of scikit-learn's macro-F1 over all of them
    every = np.unique(scores)
    brute = [precision_recall_fscore_support(truth, scores >= h, average="macro", zero_division=0)[2] for h in every]
    assert m.tune_threshold(scores, labels) == every[np.flatnonzero(np.array(brute) >= max(brute) - 1e-12)[0]]


# ------------------------------------------------------------------------------ per-label thresholds

def _brute_force_label_thresholds(scores, truth, grids):
    """For each label, scikit-learn's F1 at every candidate of its grid, the first (lowest) best kept."""
    out = []
    for j, grid in enumerate(grids):
        f1 = np.array([precision_recall_fscore_support(truth[:, j], scores[:, j] >= h, average="binary",
                                                       zero_division=0)[2] for h in grid])
        out.append(grid[-1] if f1.max() == 0 else grid[np.flatnonzero(f1 >= f1.max() - 1e-12)[0]])
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tune_label_thresholds_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, c = 40, 5
    truth = rng.random((n, c)) < 0.3
    truth[:, 3] = False  # a label without positives: F1 0 everywhere -> the highest candidate
    # scores on a coarse grid so that ties (equal F1 at several candidates) occur
    scores = np.round(rng.random((n, c)) + 0.35 * truth * (1 + np.arange(c)) / c, 1)
    labels = [tuple(int(j) for j in np.flatnonzero(row)) for row in truth]
    shared = np.unique(scores)  # every distinct score: the exhaustive search
    got = m.tune_label_thresholds(scores, labels, grid=shared)
    np.testing.assert_array_equal(got, _brute_force_label_thresholds(scores, truth, [shared] * c))
    assert got[3] == shared[-1]
    # the default: every distinct score of each label's own column (precision_recall_curve)
    got = m.tune_label_thresholds(scores, labels)
    np.testing.assert_array_equal(
        got, _brute_force_label_thresholds(scores, truth, [np.unique(scores[:, j]) for j in range(c)]))
    assert got.shape == (c,) and got.dtype == np.float64
    # an int: each label its own default grid of that size, from its own column's scores
    got = m.tune_label_thresholds(scores, labels, grid=200)
    grids = [m.default_threshold_grid(scores[:, [j]]) for j in range(c)]
    np.testing.assert_array_equal(got, _brute_force_label_thresholds(scores, truth, grids))


def _between_grid_points_case(c=2, n=1000, seed=21):
    """Scores whose perfect threshold lies strictly between two neighbouring points of each column's 200-point
    `default_threshold_grid`: the positives of label j are the scores from a cut chosen inside such a gap."""
    rng = np.random.default_rng(seed)
    scores = rng.random((n, c))
    truth = np.zeros((n, c), dtype=bool)
    for j in range(c):
        column, grid = scores[:, j], m.default_threshold_grid(scores[:, [j]])
        inside = [np.sort(column[(column > a) & (column < b)]) for a, b in zip(grid[:-1], grid[1:])]
        gap = max(inside[len(inside) // 2:], key=len)  # an upper gap holding several scores
        truth[:, j] = column >= gap[len(gap) // 2]
    return scores, truth, [tuple(int(j) for j in np.flatnonzero(row)) for row in truth]


def test_threshold_tuning_is_exact_where_a_grid_is_not():
    scores, truth, labels = _between_grid_points_case()
    cuts = [scores[truth[:, j], j].min() for j in range(2)]
    for j in range(2):
        assert cuts[j] not in m.default_threshold_grid(scores[:, [j]])
    label_h = m.tune_label_thresholds(scores, labels)
    np.testing.assert_array_equal(label_h, cuts)  # each label's own cut: F1 1
    assert m.threshold_prf(scores, labels, label_h)["macro_f1"] == 1.0
    grid_h = m.tune_label_thresholds(scores, labels, grid=200)  # the approximation misses it
    assert m.threshold_prf(scores, labels, grid_h)["macro_f1"] < 1.0
    # one global threshold over a single label's column: the same exact cut, which the grid misses
    one = [(0,) if t else () for t in truth[:, 0]]
    assert m.tune_threshold(scores[:, :1], one) == cuts[0]
    assert m.tune_threshold(scores[:, :1], one, grid=200) != cuts[0]
    ev = m.threshold_evaluation(scores, labels, scores, labels, ["a", "b"])
    assert ev["threshold_candidates"] == "every distinct dev score" and ev["macro_f1_per_label_thresholds"] == 1.0
    assert m.threshold_evaluation(scores, labels, scores, labels, ["a", "b"], grid=200)["threshold_candidates"] \
        == "a 200-point grid (default_threshold_grid)"


def test_tune_label_thresholds_hand_example():
    # label 0: positives 0.9, 0.8 / negatives 0.3, 0.1 ; label 1: positives 0.35, 0.3 / negatives 0.2, 0.1
    scores = np.array([[0.9, 0.1], [0.8, 0.35], [0.3, 0.3], [0.1, 0.2]])
    labels = [(0,), (0, 1), (1,), ()]
    grid = [0.05, 0.15, 0.25, 0.5, 0.85]
    np.testing.assert_array_equal(m.tune_label_thresholds(scores, labels, grid=grid), [0.5, 0.25])
    assert m.tune_threshold(scores, labels, grid=grid) == 0.25  # one global h: label 0 over-predicts


def _two_scale_case(rng, n):
    """Label 0 lives in 0.5-0.9 (positives above 0.8), label 1 in 0-0.4 (positives above 0.3), label 2
    in 0-1 (positives above 0.5): no single threshold separates all three, one per label does."""
    truth = rng.random((n, 3)) < 0.4
    truth[~truth.any(axis=1), 0] = True
    scores = np.column_stack([
        np.where(truth[:, 0], rng.uniform(0.8, 0.9, n), rng.uniform(0.5, 0.7, n)),
        np.where(truth[:, 1], rng.uniform(0.3, 0.4, n), rng.uniform(0.0, 0.2, n)),
        np.where(truth[:, 2], rng.uniform(0.55, 1.0, n), rng.uniform(0.0, 0.45, n)),
    ])
    return scores, [tuple(int(j) for j in np.flatnonzero(row)) for row in truth]


def test_label_thresholds_beat_one_global_threshold():
    rng = np.random.default_rng(11)
    dev_scores, dev_labels = _two_scale_case(rng, 300)
    test_scores, test_labels = _two_scale_case(rng, 300)
    global_h = m.tune_threshold(dev_scores, dev_labels)
    label_h = m.tune_label_thresholds(dev_scores, dev_labels)
    truth = m.multi_hot(dev_labels, 3)
    for j in range(3):  # each label's threshold separates its dev positives from its negatives
        assert dev_scores[~truth[:, j], j].max() < label_h[j] <= dev_scores[truth[:, j], j].min()
    assert m.threshold_prf(dev_scores, dev_labels, label_h)["macro_f1"] == pytest.approx(1.0)
    assert m.threshold_prf(dev_scores, dev_labels, global_h)["macro_f1"] < 0.9
    per_label = m.threshold_prf(test_scores, test_labels, label_h)
    one = m.threshold_prf(test_scores, test_labels, global_h)
    assert per_label["macro_f1"] > 0.97 and one["macro_f1"] < 0.9  # and so on unseen test texts
    report = m.evaluation_report(test_scores, test_labels, ["a", "b", "c"], True, dev_scores, dev_labels)
    assert report["threshold"] == pytest.approx(global_h) and report["macro_f1"] == pytest.approx(one["macro_f1"])
    assert report["label_thresholds"] == pytest.approx(label_h.tolist())
    assert report["macro_f1_per_label_thresholds"] == pytest.approx(per_label["macro_f1"])
    assert report["micro_f1_per_label_thresholds"] == pytest.approx(per_label["micro_f1"])


def test_per_label_prf_and_threshold_prf_accept_one_threshold_per_label():
    scores, labels = random_case(n=200, c=6, seed=12)
    truth = m.multi_hot(labels, 6)
    h = np.array([2.0, 4.0, 6.0, 8.0, 9.0, 11.0])
    names = list("abcdef")
    table = m.per_label_prf(scores, labels, h, names)
    for j in range(6):
        p, r, f, _ = precision_recall_fscore_support(truth[:, j], scores[:, j] >= h[j], average="binary",
                                                     zero_division=0)
        assert table.iloc[j][["precision", "recall", "f1"]].tolist() == pytest.approx([p, r, f])
    got = m.threshold_prf(scores, labels, h)
    for average in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(truth, scores >= h, average=average, zero_division=0)
        assert [got[f"{average}_{k}"] for k in ("precision", "recall", "f1")] == pytest.approx([p, r, f])
    assert got["macro_f1"] == pytest.approx(table.loc["macro-average", "f1"])
    # a vector of one repeated value is the global rule
    repeated = m.per_label_prf(scores, labels, np.full(6, 7.0), names)
    assert repeated.equals(m.per_label_prf(scores, labels, 7.0, names))
    for bad in (h[:5], np.ones((6, 1)), [1.0, 2.0, np.nan, 4.0, 5.0, 6.0]):
        with pytest.raises(ValueError):
            m.per_label_prf(scores, labels, bad, names)


def test_threshold_evaluation_tunes_on_dev_only():
    dev_scores, dev_labels = random_case(n=150, c=8, seed=13)
    test_scores, test_labels = random_case(n=150, c=8, seed=14)
    names = [f"l{i}" for i in range(8)]
    ev = m.threshold_evaluation(dev_scores, dev_labels, test_scores, test_labels, names)
    assert ev["threshold"] == m.tune_threshold(dev_scores, dev_labels)
    np.testing.assert_array_equal(ev["label_thresholds"], m.tune_label_thresholds(dev_scores, dev_labels))
    assert ev["macro_f1_per_label_thresholds"] == pytest.approx(
        ev["per_label_at_label_thresholds"].loc["macro-average", "f1"])
    assert ev["macro_f1"] == pytest.approx(ev["per_label"].loc["macro-average", "f1"])
    assert "label_thresholds" not in m.threshold_evaluation(dev_scores, dev_labels, test_scores, test_labels, names,
                                                            label_thresholds=False)
    with pytest.raises(ValueError):
        m.threshold_evaluation(dev_scores[:, :7], dev_labels, test_scores, test_labels, names)


# -------------------------------------------------------------------------------------- groupings

GROUP_NAMES = ["admiration", "amusement", "anger", "annoyance", "joy", "neutral"]
GROUP_MAP = {"anger": ["anger", "annoyance"], "joy": ["joy", "amusement", "admiration"]}


def test_map_to_groups_hand_example():
    scores = np.array([
        [0.1, 0.7, 0.2, 0.3, 0.4, 0.0],   # admiration + anger
        [0.9, 0.2, 0.5, 0.6, 0.3, 0.1],   # neutral
        [0.0, 0.0, 0.1, 0.0, 0.8, 0.2],   # joy + annoyance
    ])
    labels = [(0, 2), (5,), (4, 3)]
    group_scores, group_labels, names = g.map_to_groups(scores, labels, GROUP_NAMES, GROUP_MAP)
    assert names == ["anger", "joy", "neutral"]  # the mapping's order, neutral last
    np.testing.assert_array_equal(group_scores, [[0.3, 0.7, 0.0], [0.6, 0.9, 0.1], [0.1, 0.8, 0.2]])
    assert group_labels == [(0, 1), (2,), (0, 1)]  # admiration + anger -> anger and joy


def test_group_members_checks_the_mapping():
    names, members = g.group_members(GROUP_NAMES, GROUP_MAP)
    assert members.shape == (6, 3) and members.sum(axis=0).tolist() == [2, 3, 1]
    assert g.group_members(GROUP_NAMES, {**GROUP_MAP, "calm": ["neutral"]})[0] == ["anger", "joy", "calm"]
    with pytest.raises(ValueError, match="grief"):
        g.group_members(GROUP_NAMES, {**GROUP_MAP, "sadness": ["grief"]})
    with pytest.raises(ValueError, match="annoyance"):
        g.group_members(GROUP_NAMES, {"anger": ["anger"], "joy": GROUP_MAP["joy"]})
    with pytest.raises(ValueError):
        g.group_members(GROUP_NAMES, {"anger": []})
    with pytest.raises(ValueError):
        g.group_scores(np.zeros((2, 5)), members)


def test_grouped_evaluation_is_threshold_evaluation_of_the_grouped_problem():
    rng = np.random.default_rng(15)
    dev_labels = [tuple(sorted(rng.choice(6, size=rng.integers(1, 3), replace=False).tolist())) for _ in range(60)]
    test_labels = [tuple(sorted(rng.choice(6, size=rng.integers(1, 3), replace=False).tolist())) for _ in range(60)]
    dev_scores = rng.random((60, 6)) + 2 * m.multi_hot(dev_labels, 6)
    test_scores = rng.random((60, 6)) + 2 * m.multi_hot(test_labels, 6)
    ev = g.grouped_evaluation(dev_scores, dev_labels, test_scores, test_labels, GROUP_NAMES, GROUP_MAP)
    dev_g = g.map_to_groups(dev_scores, dev_labels, GROUP_NAMES, GROUP_MAP)
    test_g = g.map_to_groups(test_scores, test_labels, GROUP_NAMES, GROUP_MAP)
    assert ev["group_names"] == ["anger", "joy", "neutral"]
    assert ev["threshold"] == m.tune_threshold(*dev_g[:2])
    assert ev["macro_f1_per_label_thresholds"] == pytest.approx(
        m.threshold_prf(*test_g[:2], m.tune_label_thresholds(*dev_g[:2]))["macro_f1"])
    assert list(ev["per_label"].index[:3]) == ["anger", "joy", "neutral"]


def test_read_and_load_grouping(tmp_path):
    (tmp_path / "goemotions").mkdir()
    path = tmp_path / "goemotions" / "ekman_mapping.json"
    path.write_text(json.dumps(GROUP_MAP))
    mapping, info = g.load_grouping("ekman", data_dir=tmp_path)
    assert mapping == GROUP_MAP and info["origin"] == "data_dir" and info["path"] == str(path)
    with pytest.raises(InputError, match="no grouping"):
        g.load_grouping("plutchik", data_dir=tmp_path)
    path.write_text('{"anger": "anger"}')
    with pytest.raises(InputError, match="anger"):
        g.read_grouping(path)
    path.write_text("{")
    with pytest.raises(InputError, match="invalid JSON"):
        g.read_grouping(path)


@pytest.mark.skipif(not os.environ.get("EQN_DATA_DIR"), reason="needs the real GoEmotions files (EQN_DATA_DIR)")
def test_real_goemotions_groupings():
    from eqn_keras.datasets import load_card

    names = load_card("goemotions")["label_names"]
    ekman, info = g.load_grouping("ekman")
    assert info["sha256"] == "ok"
    scores = np.zeros((2, 28))
    scores[0, names.index("admiration")], scores[0, names.index("amusement")] = 3.0, 7.0
    scores[1, names.index("grief")] = 5.0
    labels = [(names.index("admiration"), names.index("anger")), (names.index("neutral"),)]
    group_scores, group_labels, groups = g.map_to_groups(scores, labels, names, ekman)
    assert groups == ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
    assert group_scores[0, groups.index("joy")] == 7.0 and group_scores[1, groups.index("sadness")] == 5.0
    assert group_labels == [(groups.index("anger"), groups.index("joy")), (groups.index("neutral"),)]
    sentiment, info = g.load_grouping("sentiment")
    assert info["sha256"] == "ok"
    _, group_labels, groups = g.map_to_groups(scores, labels, names, sentiment)
    assert groups == ["positive", "negative", "ambiguous", "neutral"]
    assert group_labels[0] == (0, 1)  # admiration positive, anger negative


# ---------------------------------------------------------------------------------------- Pearson

def test_pearson_matrix_hand_example_and_constant_column():
    scores = np.array([[1.0, 2.0, 5.0, 3.0], [2.0, 4.0, 5.0, 2.0], [3.0, 6.0, 5.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        corr = m.pearson_matrix(scores, NAMES)
    assert list(corr.index) == NAMES and list(corr.columns) == NAMES
    assert corr.loc["joy", "anger"] == pytest.approx(1.0)    # anger = 2 * joy
    assert corr.loc["joy", "love"] == pytest.approx(-1.0)    # love = 4 - joy
    assert corr.loc["joy", "joy"] == 1.0
    assert corr["fear"].isna().all() and corr.loc["fear"].isna().all()


def test_pearson_matrix_matches_numpy_and_single_row():
    scores, _ = random_case(n=50, c=7, seed=7)
    np.testing.assert_allclose(m.pearson_matrix(scores, list("abcdefg")).to_numpy(),
                               np.corrcoef(scores, rowvar=False), atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.pearson_matrix(scores[:1], list("abcdefg")).isna().all().all()


def test_heatmap_c28_writes_png_and_nothing_else(tmp_path):
    scores, _ = random_case(n=80, c=28, seed=8)
    scores[:, 5] = 1.0  # one NaN row/column
    names = [f"emotion_{i}" for i in range(28)]
    out = tmp_path / "pearson.png"
    m.plot_pearson_heatmap(m.pearson_matrix(scores, names), out, "GoEmotions test (EQN)")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000
    assert os.listdir(tmp_path) == ["pearson.png"]


def test_heatmap_small_annotated(tmp_path):
    out = tmp_path / "small.png"
    m.plot_pearson_heatmap(m.pearson_matrix(SCORES, NAMES), out, "small")
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_heatmap_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    corr = m.pearson_matrix(SCORES, NAMES)
    target = tmp_path / "pearson.png"
    target.write_bytes(b"old")

    def broken_savefig(self, handle, **kwargs):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        m.plot_pearson_heatmap(corr, target, "t")
    assert os.listdir(tmp_path) == ["pearson.png"]
    assert target.read_bytes() == b"old"


def test_heatmap_onto_a_directory_leaves_nothing(tmp_path):
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(OSError):
        m.plot_pearson_heatmap(m.pearson_matrix(SCORES, NAMES), tmp_path / "taken.png", "t")
    assert os.listdir(tmp_path) == ["taken.png"]


# ------------------------------------------------------------------------------------------ reports

def test_report_multi_label_with_dev_is_json_and_consistent():
    scores, labels = random_case(seed=9)
    dev_scores, dev_labels = random_case(seed=10)
    names = [f"l{i}" for i in range(28)]
    report = m.evaluation_report(scores, labels, names, True, dev_scores, dev_labels)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert report["table3_metric"] == "hit_rate" and report["table3"] == report["hit_rate"]
    assert report["hit_rate"] == pytest.approx(m.hit_rate(scores, labels))
    assert report["accuracy"] == pytest.approx(m.accuracy(scores, labels))
    assert report["threshold"] == pytest.approx(m.tune_threshold(dev_scores, dev_labels))
    truth = m.multi_hot(labels, 28)
    predicted = scores >= report["threshold"]
    micro = precision_recall_fscore_support(truth, predicted, average="micro", zero_division=0)
    assert report["micro_f1"] == pytest.approx(micro[2])
    assert report["macro_f1"] == pytest.approx(report["per_label"][28]["f1"])
    assert report["per_label"][28]["label"] == "macro-average"
    assert report["per_label"][29]["support"] is None  # std row
    assert report["hits_by_label_count"][-1]["class"] == "Total"
    assert [r["class"] for r in report["topk_expansion"]] == ["Top1", "Top2", "Top3"]
    assert len(report["label_thresholds"]) == 28
    assert report["label_thresholds"] == pytest.approx(m.tune_label_thresholds(dev_scores, dev_labels).tolist())
    by_label = m.threshold_prf(scores, labels, np.array(report["label_thresholds"]))
    for key, value in by_label.items():
        assert report[key + "_per_label_thresholds"] == pytest.approx(value)
    assert report["per_label_at_label_thresholds"][28]["f1"] == pytest.approx(by_label["macro_f1"])
    text_tables = m.format_tables(json.loads(text))
    for needle in ("Table 3", "Table 4", "Table 5", "Table 6", "Total", "macro-average", "l27",
                   "macro_f1_per_label_thresholds", "Table 6 at per-label thresholds", "threshold"):
        assert needle in text_tables


def test_report_single_label_without_dev():
    report = m.evaluation_report(SCORES[[0, 2, 4, 5]], [(0,), (2,), (1,), (3,)], NAMES, False)
    json.dumps(report, allow_nan=False)
    assert report["table3_metric"] == "accuracy"
    assert report["table3"] == pytest.approx(0.25)
    for key in ("threshold", "per_label", "macro_f1", "hits_by_label_count", "topk_expansion", "label_thresholds"):
        assert key not in report
    text = m.format_tables(report)
    assert "Table 3 (accuracy): 0.2500" in text and "Table 6" not in text


def test_report_nan_becomes_null_and_table5_increment_rendering():
    # no single-label texts -> Table 5 hit rates are NaN -> null in JSON
    report = m.evaluation_report(SCORES[[1, 3]], [LABELS[1], LABELS[3]], NAMES, True)
    json.dumps(report, allow_nan=False)
    assert all(r["hit_rate"] is None for r in report["topk_expansion"])
    text = m.format_tables(m.evaluation_report(SCORES, LABELS, NAMES, True, SCORES, LABELS))
    assert "+1" in text


def test_report_requires_dev_pair_and_matching_names():
    with pytest.raises(ValueError):
        m.evaluation_report(SCORES, LABELS, NAMES, True, dev_scores=SCORES)
    with pytest.raises(ValueError):
        m.evaluation_report(SCORES, LABELS, NAMES[:3], True)


def test_metrics_module_imports_no_tensorflow():
    """metrics.py and groupings.py (and labels.py, which they use) stay pure NumPy / scikit-learn / pandas."""
    import ast
    from pathlib import Path

    from eqn_keras import labels

    for path in (m.__file__, labels.__file__, g.__file__):
        tree = ast.parse(Path(path).read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.split(".")[0] in ("tensorflow", "keras", "keras_hub")], path
