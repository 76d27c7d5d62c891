import numpy as np
import pytest

from eqn_keras.builders import TOKEN_ARCHS, build_model, load_arch_config, make_tokenizer


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


# Section 4.2 of the paper, as the shipped presets must build it: {layer: {config key: value}}.
PAPER = {
    "ann": {"dense_0": {"units": 512}, "dense_1": {"units": 256}},
    "cnn": {"embedding": {"input_dim": 15000, "output_dim": 32}, "conv_1": {"filters": 32, "kernel_size": (7,)},
            "conv_2": {"filters": 32, "kernel_size": (7,)}},
    "lstm": {"embedding": {"input_dim": 5000, "output_dim": 150}, "lstm": {"units": 128}},
    "textcnn": {"conv_3": {"filters": 256, "kernel_size": (3,)}, "conv_4": {"filters": 256, "kernel_size": (4,)},
                "conv_5": {"filters": 256, "kernel_size": (5,)}},
}


def _expected_layers(arch, cfg):
    """{layer name: {config key: value}} that `cfg` (an arch's preset dict) must give the built model."""
    layers = {"embedding": {"input_dim": cfg["vocab_size"], "output_dim": cfg["embedding_dim"]}}
    if arch == "ann":
        for i, units in enumerate(cfg["layers"]):
            layers[f"dense_{i}"] = {"units": units, "activation": cfg["activation"]}
            layers[f"dropout_{i}"] = {"rate": cfg["dropout"]}
        return layers
    layers["dropout"] = {"rate": cfg["dropout"]}
    if arch == "cnn":
        for name in ("conv_1", "conv_2"):
            layers[name] = {"filters": cfg["filters"], "kernel_size": (cfg["kernel_size"],), "activation": cfg["activation"]}
        layers["pool_1"] = {"pool_size": (cfg["pool_size"],)}
    elif arch == "lstm":
        layers["embedding"]["mask_zero"] = True
        layers["lstm"] = {"units": cfg["units"]}
    elif arch == "textcnn":
        for k in cfg["kernel_sizes"]:
            layers[f"conv_{k}"] = {"filters": cfg["filters"], "kernel_size": (k,), "activation": cfg["activation"]}
    return layers


def _other_values(cfg):
    """The preset with every number changed (and another activation): a builder that ignores a key shows."""
    def change(key, value):
        if key == "dropout":
            return 0.15
        if key == "activation":
            return "tanh"
        if isinstance(value, list):
            return [v + 1 for v in value]
        return value + 3 if isinstance(value, int) else value

    return {key: change(key, value) for key, value in cfg.items()}


def _check_layers(model, expected):
    for name, params in expected.items():
        config = model.get_layer(name).get_config()
        got = {key: config[key] for key in params}
        assert got == params, name


@pytest.mark.parametrize("arch", TOKEN_ARCHS)
def test_built_layers_carry_the_preset(arch):
    """The shipped preset builds the paper's layers; changed values reach the layers too (nothing hard-coded)."""
    cfg = load_arch_config(arch)
    assert cfg["interpretation"]
    for config in (cfg, _other_values(cfg)):
        model = build_model(arch, 4, config=config)
        _check_layers(model, _expected_layers(arch, config))
        dense, scores = model.get_layer("eqn_head").layers
        assert (dense.units, scores.units) == (config["head_units"], 4)
    _check_layers(build_model(arch, 4), PAPER[arch])
    # the tokenizer the run saves with the model: the preset's vocabulary size, padded to --seq-len
    texts = [f"w{i} w{i + 1} w{i + 2}" for i in range(0, 60000, 3)]
    tokenizer = make_tokenizer(arch, cfg, texts, 37)
    assert tokenizer.vocabulary_size() == cfg["vocab_size"]
    assert tokenizer(["w0 w1"]).shape == (1, 37)


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
