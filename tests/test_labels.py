import numpy as np
import pytest

from eqn_keras.labels import (annotated_mask, clip_energies, init_full_labels, regress_labels, threshold_annotate,
                              threshold_label_names)

# Paper Table 1: sample 1 has labels 0 and 1, sample 2 has label 1, sample 3 has label 2.
TABLE1_LABELS = [(0, 1), (1,), (2,)]


def test_initialization_matches_table1():
    full = init_full_labels(TABLE1_LABELS, 3)
    np.testing.assert_array_equal(full, [[10, 10, 0], [0, 10, 0], [0, 0, 10]])
    assert full.dtype == np.float32


def test_regression_matches_table1():
    model_scores = np.array([[9.1, 7.7, 5.2], [0.0, 3.0, 4.0], [8.5, 6.1, 2.2]])
    regressed = regress_labels(TABLE1_LABELS, model_scores)
    np.testing.assert_allclose(regressed, [[10, 10, 5.2], [0, 10, 4.0], [8.5, 6.1, 10]], rtol=0, atol=1e-6)


def test_regression_clips_to_range():
    regressed = regress_labels([(0,)], np.array([[3.0, -1.5, 12.0]]))
    np.testing.assert_allclose(regressed, [[10.0, 0.0, 10.0]])


def test_custom_range():
    full = init_full_labels([(1,)], 2, max_value=1.0, min_value=-1.0)
    np.testing.assert_array_equal(full, [[-1.0, 1.0]])
    np.testing.assert_allclose(regress_labels([(1,)], [[0.3, -0.2]], 1.0, -1.0), [[0.3, 1.0]], atol=1e-7)


def test_threshold_annotation_eq8():
    out = threshold_annotate([[0.5, 2.0, 3.2], [9.0, 1.99, 0.0]], 2.0)
    np.testing.assert_allclose(out, [[0.0, 2.0, 3.2], [9.0, 0.0, 0.0]], atol=1e-6)


def test_clipped_energies_and_eq8_decided_on_raw_scores():
    raw = np.array([[-0.4, 2.0, 12.5], [-0.1, 1.99, 0.3]], dtype=np.float32)
    shown = clip_energies(raw, (0.0, 10.0))
    np.testing.assert_allclose(shown, [[0.0, 2.0, 10.0], [0.0, 1.99, 0.3]], atol=1e-6)
    assert np.array_equal(clip_energies(raw, None), raw)
    np.testing.assert_allclose(threshold_annotate(raw, 2.0, shown=shown), [[0.0, 2.0, 10.0], [0.0, 0.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(threshold_annotate(raw, -0.2, shown=shown, fill=-1), [[-1, 2.0, 10.0], [0.0, 1.99, 0.3]],
                               atol=1e-6)
    assert threshold_label_names(raw, 2.0, ["a", "b", "c"]) == ["b|c", ""]
    assert threshold_label_names(raw, -0.2, ["a", "b", "c"], sep=",") == ["b,c", "a,b,c"]


def test_label_out_of_range():
    with pytest.raises(ValueError, match="label id 3 is outside 0..2"):
        annotated_mask([(0,), (3,)], 3)


def test_regression_shape_mismatch():
    with pytest.raises(ValueError, match="scores must be"):
        regress_labels([(0,), (1,)], np.zeros((3, 2)))


def test_regression_temperature_softens_or_sharpens_the_kept_scores():
    from eqn_keras.labels import soften_scores

    scores = np.array([[0.0, 0.5, 2.0, 9.0, 12.0]], dtype=np.float32)
    np.testing.assert_array_equal(soften_scores(scores, 1.0), np.clip(scores, 0, 10))
    soft, sharp = soften_scores(scores, 2.0), soften_scores(scores, 0.5)
    middle = slice(1, 4)  # away from the clipped ends
    assert (soft[0, 1:3] > scores[0, 1:3]).all() and (sharp[0, 1:3] < scores[0, 1:3]).all()
    assert soft[0, 3] < 9.0 < sharp[0, 3]  # above the midpoint the directions swap
    assert (np.diff(soft[0, middle]) > 0).all() and ((soft >= 0) & (soft <= 10)).all()
    regressed = regress_labels([(3,)], scores, temperature=2.0)
    assert regressed[0, 3] == 10.0 and regressed[0, 1] == pytest.approx(soft[0, 1])
    with pytest.raises(ValueError, match="temperature must be positive"):
        soften_scores(scores, 0.0)
