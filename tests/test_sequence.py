import numpy as np
import pytest

from eqn_keras.sequence import FullLabelSequence, make_vectorizer, tokenize

TEXTS = ["good day", "bad bad day today", "what a wonderful world it is", "ok"]


def test_vectorizer_pads_at_end_to_seq_len():
    vec = make_vectorizer(TEXTS, vocab_size=50, seq_len=150)
    ids = tokenize(vec, TEXTS)
    assert ids.shape == (4, 150) and ids.dtype == np.int32
    assert (ids[0, :2] > 1).all() and (ids[0, 2:] == 0).all()
    assert tokenize(vec, ["unseen words"])[0, 0] == 1  # OOV id


def test_seq_len_configurable_and_truncates():
    vec = make_vectorizer(TEXTS, vocab_size=50, seq_len=3)
    assert tokenize(vec, TEXTS).shape == (4, 3)


def test_batches_are_padded_to_longest_text():
    vec = make_vectorizer(TEXTS, vocab_size=50)
    targets = np.arange(8, dtype=np.float32).reshape(4, 2)
    seq = FullLabelSequence.from_texts(TEXTS, vec, targets, batch_size=2, pad_multiple=1)
    assert len(seq) == 2
    # the widest batch leads (texts 2 and 3), then the rest in order
    x, y = seq[0]
    assert x.shape == (2, 6)
    np.testing.assert_array_equal(y, targets[2:])
    x, y = seq[1]
    assert x.shape == (2, 4)
    np.testing.assert_array_equal(y, targets[:2])
    assert FullLabelSequence.from_texts(TEXTS, vec, targets, batch_size=2, pad_multiple=8)[0][0].shape == (2, 8)


def test_shuffled_batches_group_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 150, size=640)
    ids = (np.arange(150)[None, :] < lengths[:, None]).astype(np.int32) * 5
    seq = FullLabelSequence(ids, np.zeros((640, 1)), batch_size=32, shuffle=True, seed=1)
    padded = sum(seq[i][0].size for i in range(len(seq)))
    assert padded < 1.2 * lengths.sum()  # fixed padding to 150 would be ~2x


def test_with_targets_reuses_tokens():
    vec = make_vectorizer(TEXTS, vocab_size=50)
    seq = FullLabelSequence.from_texts(TEXTS, vec, np.zeros((4, 2)), batch_size=4)
    stage2 = seq.with_targets(np.ones((4, 2)))
    assert stage2.token_ids is seq.token_ids
    np.testing.assert_array_equal(stage2[0][1], np.ones((4, 2)))


def test_shuffle_is_seeded_and_changes_each_epoch():
    ids = np.arange(1, 101, dtype=np.int32).reshape(100, 1)
    a = FullLabelSequence(ids, np.zeros((100, 1)), batch_size=10, shuffle=True, seed=3)
    b = FullLabelSequence(ids, np.zeros((100, 1)), batch_size=10, shuffle=True, seed=3)
    first = np.concatenate([a[i][0] for i in range(len(a))]).ravel()
    np.testing.assert_array_equal(first, np.concatenate([b[i][0] for i in range(len(b))]).ravel())
    assert sorted(first) == list(range(1, 101)) and a.num_batches == len(a)  # finite: a plain model.fit(seq) ends
    a.on_epoch_end()
    second = np.concatenate([a[i][0] for i in range(len(a))]).ravel()
    assert sorted(second) == list(range(1, 101)) and not np.array_equal(first, second)
    # a stream: items len..2*len-1 are the next epoch
    s = FullLabelSequence(ids, np.zeros((100, 1)), batch_size=10, shuffle=True, seed=3, stream=True)
    assert s.num_batches is None
    np.testing.assert_array_equal(np.concatenate([s[i][0] for i in range(len(s), 2 * len(s))]).ravel(), second)


def test_epoch_order_depends_only_on_seed_and_epoch():
    """What makes a resumed fit repeat an uninterrupted one: no state carried from epoch to epoch."""
    ids = np.arange(1, 101, dtype=np.int32).reshape(100, 1)
    a = FullLabelSequence(ids, np.zeros((100, 1)), batch_size=10, shuffle=True, seed=3, stream=True)
    epochs = [np.concatenate([a[i][0] for i in range(e * len(a), (e + 1) * len(a))]).ravel() for e in range(3)]
    resumed = FullLabelSequence(ids, np.zeros((100, 1)), batch_size=10, shuffle=True, seed=3, stream=True)
    resumed.set_epoch(2)  # a fit restarted at epoch 2: its first item is epoch 2's first batch
    np.testing.assert_array_equal(np.concatenate([resumed[i][0] for i in range(len(a))]).ravel(), epochs[2])
    # fetching out of order (tf.data prefetching past an epoch's end) changes nothing
    b = FullLabelSequence(ids, np.zeros((100, 1)), batch_size=10, shuffle=True, seed=3, stream=True)
    late = b[len(b) + 3][0]
    np.testing.assert_array_equal(b[2][0], a[2][0])
    np.testing.assert_array_equal(late, a[len(a) + 3][0])


def test_sorted_inference_order_is_restored():
    ids = np.zeros((5, 10), dtype=np.int32)
    for i, n in enumerate([5, 1, 9, 3, 2]):
        ids[i, :n] = 7
    seq = FullLabelSequence(ids, batch_size=2, sort_by_length=True, pad_multiple=1)
    lengths = np.concatenate([(seq[i][0] != 0).sum(axis=1) for i in range(len(seq))])
    # the widest batch leads, then the others shortest-first
    assert list(lengths) == [9, 1, 2, 3, 5]
    restored = seq.restore_order(lengths)
    np.testing.assert_array_equal(restored, [5, 1, 9, 3, 2])


def test_targets_must_match_texts():
    with pytest.raises(ValueError, match="3 target rows for 2 texts"):
        FullLabelSequence(np.ones((2, 4), dtype=np.int32), np.zeros((3, 1)))
