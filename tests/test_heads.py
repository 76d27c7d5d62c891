import numpy as np
import pytest

from eqn_keras.heads import build_head, eqn_head, head_targets


def test_eqn_head_is_dense_then_linear():
    head = eqn_head(28, hidden_units=64)
    head.build((None, 10))
    dense, scores = head.layers
    assert dense.units == 64 and dense.activation.__name__ == "relu"
    assert scores.units == 28 and scores.activation.__name__ == "linear"


@pytest.mark.parametrize("kind,activation", [("eqn", "linear"), ("single", "softmax"), ("multi", "sigmoid")])
def test_head_kinds_differ_only_in_last_activation(kind, activation):
    head = build_head(kind, 3)
    head.build((None, 8))
    assert head.layers[-1].activation.__name__ == activation
    assert [l.units for l in head.layers] == [128, 3]


def test_targets():
    full = np.array([[10.0, 0.0, 3.5], [0.0, 10.0, 10.0]], dtype=np.float32)
    np.testing.assert_array_equal(head_targets("eqn", full, 10.0), full)
    np.testing.assert_array_equal(head_targets("multi", full, 10.0), [[1, 0, 0], [0, 1, 1]])


def test_unknown_head():
    with pytest.raises(ValueError, match="unknown head 'softmax'"):
        build_head("softmax", 3)


def test_eqn_bce_head_outputs_energies_and_its_loss_is_bce_on_rescaled_targets():
    import keras

    from eqn_keras.heads import EnergyBCE, head_loss

    head = build_head("eqn_bce", 4, hidden_units=8)
    out = np.asarray(head(np.random.default_rng(0).normal(size=(5, 6)).astype("float32") * 50))
    assert out.shape == (5, 4) and (out >= 0).all() and (out <= 10).all() and out.max() > 5
    loss = head_loss("eqn_bce", 10.0, 0.0)
    assert isinstance(loss, EnergyBCE) and head_loss("eqn") == "mean_squared_error"
    y = np.array([[10.0, 2.5, 0.0]], dtype="float32")
    p = np.array([[9.0, 1.0, 0.5]], dtype="float32")
    expected = keras.losses.BinaryCrossentropy()(y / 10, p / 10)
    assert float(loss(y, p)) == pytest.approx(float(expected), rel=1e-5)
    assert EnergyBCE.from_config(loss.get_config()).max_value == 10.0
    full = np.array([[10.0, 3.0]], dtype="float32")
    np.testing.assert_array_equal(head_targets("eqn_bce", full, 10.0), full)


def test_eqn_bce_loss_uses_logits_so_a_saturated_sigmoid_still_learns():
    import tensorflow as tf

    from eqn_keras.heads import head_loss

    head = build_head("eqn_bce", 2, hidden_units=4)
    x = tf.ones((1, 3))
    head(x)
    kernel, _ = head.layers[1].get_weights()
    head.layers[1].set_weights([np.zeros_like(kernel), np.array([40.0, 0.0], "float32")])  # label 0 saturated at 10

    @tf.function
    def loss_and_bias_grad():
        with tf.GradientTape() as tape:
            loss = head_loss("eqn_bce")(tf.constant([[0.0, 5.0]]), head(x))
        return loss, tape.gradient(loss, head.layers[1].bias)

    loss, grad = loss_and_bias_grad()
    assert float(loss) == pytest.approx((40.0 + np.log(2.0)) / 2, rel=1e-4)  # a clipped log would stop near 8
    assert float(grad[0]) == pytest.approx(0.5, rel=1e-4) and abs(float(grad[1])) < 1e-6


@pytest.mark.parametrize("kind,unit_scale", [("eqn", False), ("eqn", True), ("single", False), ("multi", False),
                                             ("eqn_bce", False)])
def test_prior_bias_makes_an_untrained_head_predict_the_label_means(kind, unit_scale):
    """With the kernel at zero only the bias speaks: the head must output the targets' per-label mean."""
    from eqn_keras.heads import prior_bias

    full = np.array([[10, 0, 0], [10, 0, 0], [0, 10, 0], [10, 0, 0]], dtype=np.float32)
    if kind != "single":
        full[1, 2] = 10.0  # a second label on one text (multi-label)
    targets = head_targets(kind, full, 10.0)
    head = build_head(kind, 3, unit_scale=unit_scale)
    head.build((None, 4))
    scores = head.get_layer("scores")
    scores.kernel.assign(np.zeros(scores.kernel.shape, dtype="float32"))
    scores.bias.assign(prior_bias(kind, targets, unit_scale=unit_scale).astype("float32"))
    out = np.asarray(head(np.ones((2, 4), dtype="float32")))
    expected = targets.mean(axis=0)
    if kind == "multi" or kind == "eqn_bce":
        expected = np.clip(expected, 1e-4 * (10 if kind == "eqn_bce" else 1), None)  # logit(0) is clipped
    np.testing.assert_allclose(out[0], expected, rtol=1e-3, atol=2e-3)


def test_unit_scale_head_outputs_energies_from_a_0_1_linear_layer():
    head = build_head("eqn", 2, unit_scale=True)
    head.build((None, 3))
    assert head.layers[-1].name == "energy" and head.layers[-2].activation.__name__ == "linear"
    scores = head.get_layer("scores")
    scores.kernel.assign(np.zeros(scores.kernel.shape, dtype="float32"))
    scores.bias.assign(np.array([0.25, 1.0], dtype="float32"))
    np.testing.assert_allclose(np.asarray(head(np.ones((1, 3), dtype="float32"))), [[2.5, 10.0]], rtol=1e-6)


def test_warmup_linear_decay_schedule():
    from eqn_keras.optimizers import WarmupLinearDecay, make_optimizer

    schedule = WarmupLinearDecay(1e-4, warmup_steps=10, total_steps=110)
    rates = [float(schedule(step)) for step in (0, 5, 10, 60, 110, 200)]
    np.testing.assert_allclose(rates, [0.0, 5e-5, 1e-4, 5e-5, 0.0, 0.0], atol=1e-12)
    optimizer = make_optimizer({"optimizer": {"name": "adamw", "warmup_fraction": 0.1}}, 1e-4, 10, 11)
    assert float(optimizer.learning_rate) == 0.0  # step 0 of the warm-up: the schedule is in use
    assert optimizer.weight_decay == pytest.approx(0.01)
    assert make_optimizer({}, 1e-3, 10, 2).__class__.__name__ == "Adam"
