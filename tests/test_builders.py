import numpy as np
import pytest

from eqn_keras.builders import TOKEN_ARCHS, build_model, load_arch_config


def _ids():
    ids = np.zeros((3, 150), dtype="int32")
    ids[0, :10] = np.arange(2, 12)
    ids[1, :3] = [5, 6, 7]
    ids[2, :41] = np.arange(2, 43)
    return ids


@pytest.mark.parametrize("arch", TOKEN_ARCHS)
def test_builds_and_ends_in_shared_head(arch):
    model = build_model(arch, 5)
    assert model.output_shape == (None, 5)
    assert model.layers[-1].name == "eqn_head"
    assert model.layers[-1].layers[-1].activation.__name__ == "linear"


@pytest.mark.parametrize("arch", TOKEN_ARCHS)
def test_padding_does_not_change_scores(arch):
    """A text scores the same whether padded to 150 or only to its batch's longest text."""
    model = build_model(arch, 4)
    ids = _ids()
    full = model.predict(ids, verbose=0)
    short = model.predict(ids[:, :48], verbose=0)
    np.testing.assert_allclose(full, short, atol=1e-5)
    # and a text's score does not depend on its batch-mates
    alone = model.predict(ids[1:2, :8], verbose=0)
    np.testing.assert_allclose(full[1:2], alone, atol=1e-5)


def test_paper_parameters_are_data():
    assert load_arch_config("textcnn")["kernel_sizes"] == [3, 4, 5]
    assert load_arch_config("textcnn")["filters"] == 256
    lstm = load_arch_config("lstm")
    assert (lstm["vocab_size"], lstm["embedding_dim"], lstm["units"]) == (5000, 150, 128)
    assert load_arch_config("cnn")["vocab_size"] == 15000
    assert load_arch_config("ann")["layers"] == [512, 256]
    for arch in TOKEN_ARCHS:
        assert load_arch_config(arch)["interpretation"]


def test_lstm_masks_padding():
    model = build_model("lstm", 3)
    embedding = model.get_layer("embedding")
    assert embedding.mask_zero


def test_unknown_arch():
    with pytest.raises(ValueError, match="unknown arch 'gru'"):
        load_arch_config("gru")


@pytest.mark.parametrize("head", ["single", "multi"])
def test_baseline_heads(head):
    model = build_model("ann", 3, head=head)
    scores = model.predict(_ids(), verbose=0)
    assert ((scores >= 0) & (scores <= 1)).all()
    if head == "single":
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
