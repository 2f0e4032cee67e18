"""Tests of the experiments that answer chapter 7's questions (micrograd_plus.train.mnist_experiments):
best matches by cosine, neuron matching across runs, and memorising shuffled labels."""

import numpy as np
import pytest

from micrograd_plus.data import load_mnist, mnist_to_float
from micrograd_plus.train import mnist_experiments as ex


def test_most_similar_images_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    x, ref = rng.random((7, 20)), rng.random((50, 20))
    index, cos = ex.most_similar_images(x, ref, chunk=8)         # several chunks, one partial
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    full = unit(x) @ unit(ref).T                                   # (7, 50)
    assert np.array_equal(index, full.argmax(axis=1))
    np.testing.assert_allclose(cos, full.max(axis=1), rtol=1e-5)


def test_most_similar_images_ignores_brightness_and_finds_the_copy():
    rng = np.random.default_rng(1)
    ref = rng.random((30, 16)).astype(np.float32)
    index, cos = ex.most_similar_images(0.3 * ref[[4, 17]], ref)  # faint copies of two references
    assert index.tolist() == [4, 17]
    np.testing.assert_allclose(cos, 1.0, rtol=1e-5)


def test_most_similar_images_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="most_similar_images"):
        ex.most_similar_images(np.zeros((3, 784)), np.zeros((5, 783)))
    with pytest.raises(ValueError, match="non-empty"):
        ex.most_similar_images(np.zeros((3, 4)), np.zeros((0, 4)))


def test_best_match_similarity_sees_through_order_sign_and_scale():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 40))
    b = -2.5 * a[[3, 0, 5, 1, 4, 2]]                 # the same patterns, shuffled, flipped, scaled
    np.testing.assert_allclose(ex.best_match_similarity(a, b), 1.0, rtol=1e-12)
    eye = np.eye(4)
    assert np.allclose(ex.best_match_similarity(eye[:2], eye[2:]), 0.0)   # perpendicular: no match
    with pytest.raises(ValueError, match="best_match_similarity"):
        ex.best_match_similarity(a, b[:, :5])


def test_shuffled_labels_are_memorised_but_nothing_generalises():
    images, labels = load_mnist("train")
    x, y = mnist_to_float(images[:300]), labels[:300].astype(np.int64)
    test_images, test_labels = load_mnist("test")
    x_test, y_test = mnist_to_float(test_images[:500]), test_labels[:500].astype(np.int64)
    shuffled = np.random.default_rng(0).permutation(y)
    run = ex.accuracy_curves(x, shuffled, x_test, y_test, hidden=(128,), epochs=40, lr=0.05, batch_size=30,
                             eval_every=20)
    assert run["epoch"].tolist() == [0, 20, 40]
    assert run["train_accuracy"][-1] > 0.9           # memorised
    assert run["test_accuracy"][-1] < 0.25           # chance is 0.10
    real = ex.accuracy_curves(x, y, x_test, y_test, hidden=(128,), epochs=10, lr=0.05, batch_size=30,
                              eval_every=10)
    assert real["test_accuracy"][-1] > 0.6           # the same network with true labels generalises
    with pytest.raises(ValueError, match="differ in number"):
        ex.accuracy_curves(x, y[:-1], x_test, y_test, epochs=1)
