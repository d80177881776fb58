"""Tests for the tiny numpy bigram-LM pipeline in ``definitions/lm.py``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import fsspec
import numpy as np
import pytest

from definitions import lm


@pytest.fixture(scope="module")
def tokens_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("lm")
    lm.generate_corpus(str(root / "corpus"), seed=0, n_train_docs=200, n_validation_docs=30)
    lm.tokenize(
        [str(root / "corpus" / "train")],
        str(root / "tokens"),
        vocab_size=128,
        validation_paths=[str(root / "corpus" / "validation")],
    )
    return str(root / "tokens")


def test_corpus_is_deterministic_in_seed(tmp_path: Path) -> None:
    stats = lm.generate_corpus(str(tmp_path / "a"), seed=3, n_train_docs=20, n_validation_docs=5)
    lm.generate_corpus(str(tmp_path / "b"), seed=3, n_train_docs=20, n_validation_docs=5)
    lm.generate_corpus(str(tmp_path / "c"), seed=4, n_train_docs=20, n_validation_docs=5)
    for split, n_docs in (("train", 20), ("validation", 5)):
        a, b, c = ((tmp_path / d / split / "part-0.txt").read_bytes() for d in "abc")
        assert a == b
        assert a != c
        lines = a.decode().splitlines()
        assert len(lines) == n_docs == stats[split]["docs"]
        assert sum(len(line.split()) for line in lines) == stats[split]["words"]
        assert all(line.endswith(" .") for line in lines)
    train = (tmp_path / "a" / "train" / "part-0.txt").read_text()
    val = (tmp_path / "a" / "validation" / "part-0.txt").read_text()
    assert train != val


def test_tokenize_vocab_ties_and_unk(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("a b b a c\nc d\n")  # a=2 b=2 c=2 d=1
    (tmp_path / "val.txt").write_text("zzz a\n")
    stats = lm.tokenize(
        [str(tmp_path / "train.txt")],
        str(tmp_path / "tok"),
        vocab_size=4,
        validation_paths=[str(tmp_path / "val.txt")],
    )
    vocab = json.loads((tmp_path / "tok" / "vocab.json").read_text())
    assert vocab["tokens"] == ["<unk>", "<eos>", "a", "b"]  # alphabetical tie-break
    assert stats["vocab_size"] == 4
    train = np.load(tmp_path / "tok" / "train.npy")
    assert train.dtype == np.int32
    assert train.tolist() == [2, 3, 3, 2, 0, 1, 0, 0, 1]
    assert np.load(tmp_path / "tok" / "validation.npy").tolist() == [0, 2, 1]
    assert stats["validation"]["unk_rate"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        lm.tokenize([str(tmp_path / "train.txt")], str(tmp_path / "bad"), vocab_size=2)


def test_tokenize_generated_corpus(tokens_dir: str) -> None:
    vocab = json.loads(Path(tokens_dir, "vocab.json").read_text())
    assert len(vocab["tokens"]) == vocab["vocab_size"] == 128
    assert len(set(vocab["tokens"])) == 128
    for split, n_docs in (("train", 200), ("validation", 30)):
        ids = np.load(Path(tokens_dir, f"{split}.npy"))
        assert ids.min() >= 0 and ids.max() < 128
        assert int((ids == 1).sum()) == n_docs  # one <eos> per document
        assert ids[-1] == 1
        assert 0 < int((ids == 0).sum()) < ids.size // 4  # rare words became <unk>


def test_train_lowers_loss_and_writes_checkpoints(tokens_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    metrics = lm.train(tokens_dir, str(out), learning_rate=0.02, steps=120, checkpoint_every=50)
    assert metrics["initial_train_loss"] == pytest.approx(math.log(128), abs=0.1)
    assert metrics["final_train_loss"] < metrics["initial_train_loss"] - 1.0
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-100", "step-50"]
    assert (out / "model" / "params.npz").exists()
    assert json.loads((out / "train_metrics.json").read_text()) == metrics
    with np.load(out / "model" / "params.npz") as params:
        assert params["emb"].shape == (128, lm.EMBED_DIM)
        assert params["out"].shape == (lm.EMBED_DIM, 128)
        assert int(params["step"]) == 120
    again = lm.train(tokens_dir, str(tmp_path / "again"), learning_rate=0.02, steps=120)
    assert again["final_train_loss"] == metrics["final_train_loss"]  # deterministic in seed


def test_evaluate_trained_beats_untrained(tokens_dir: str, tmp_path: Path) -> None:
    lm.train(tokens_dir, str(tmp_path / "trained"), learning_rate=0.02)
    lm.train(tokens_dir, str(tmp_path / "untrained"), learning_rate=0.0, steps=1)
    trained = lm.evaluate(str(tmp_path / "trained" / "model"), tokens_dir, str(tmp_path / "e1"))
    untrained = lm.evaluate(str(tmp_path / "untrained" / "model"), tokens_dir, str(tmp_path / "e2"))
    assert trained["perplexity"] < 128 / 3
    assert trained["perplexity"] < untrained["perplexity"] / 3
    assert trained["perplexity"] == pytest.approx(math.exp(trained["loss"]))
    n_val = np.load(Path(tokens_dir, "validation.npy")).size
    assert trained["tokens"] == n_val - 1
    assert json.loads((tmp_path / "e1" / "metrics.json").read_text()) == trained
    assert set(trained) == {"loss", "perplexity", "tokens", "model_path"}
    ckpt = lm.latest_checkpoint(str(tmp_path / "trained" / "checkpoints"))
    assert ckpt is not None and ckpt.endswith("step-300")
    from_ckpt = lm.evaluate(ckpt, tokens_dir, str(tmp_path / "e3"), split="train")
    assert from_ckpt["model_path"] == ckpt
    assert from_ckpt["loss"] < untrained["loss"]


def test_latest_checkpoint_orders_numerically(tmp_path: Path) -> None:
    ckpts = tmp_path / "checkpoints"
    assert lm.latest_checkpoint(str(ckpts)) is None
    ckpts.mkdir()
    assert lm.latest_checkpoint(str(ckpts)) is None
    for name in ("step-200", "step-1000", "step-30", "other"):
        (ckpts / name).mkdir()
        (ckpts / name / "params.npz").write_bytes(b"x")
    (ckpts / "step-5000").mkdir()  # still being written: no params.npz yet
    assert lm.latest_checkpoint(str(ckpts)) == str(ckpts / "step-1000")
    assert lm.latest_checkpoint(str(ckpts) + "/") == str(ckpts / "step-1000")


def test_full_chain_on_memory_filesystem() -> None:
    base = "memory://lm-test"
    memfs = fsspec.filesystem("memory")
    try:
        corpus = lm.generate_corpus(f"{base}/corpus", seed=1, n_train_docs=100)
        assert corpus["train"]["docs"] == 100
        lm.tokenize(
            [f"{base}/corpus/train"],
            f"{base}/tokens",
            validation_paths=[f"{base}/corpus/validation/part-0.txt"],
        )
        metrics = lm.train(
            f"{base}/tokens", f"{base}/run", learning_rate=0.02, steps=60, checkpoint_every=20
        )
        assert metrics["final_train_loss"] < metrics["initial_train_loss"]
        ckpt = lm.latest_checkpoint(f"{base}/run/checkpoints")
        assert ckpt is not None and ckpt == f"{base}/run/checkpoints/step-60"
        result = lm.evaluate(ckpt, f"{base}/tokens", f"{base}/eval")
        assert result["perplexity"] < metrics["vocab_size"] / 2
        assert json.loads(memfs.cat_file("/lm-test/eval/metrics.json")) == result
        assert memfs.exists("/lm-test/run/model/params.npz")
    finally:
        memfs.store.clear()
        memfs.pseudo_dirs.clear()
        memfs.pseudo_dirs.append("")
