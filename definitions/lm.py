"""A tiny, CPU-only, Marin-like language-modelling pipeline in pure numpy + fsspec.

Stages: synthetic corpus -> word-level tokeniser -> neural bigram LM (Adam) -> evaluation.
Every path is a ``str`` that may be a local path or an fsspec URL (``memory://``, ``gs://``).
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import fsspec
import numpy as np

logger = logging.getLogger(__name__)

UNK = "<unk>"
EOS = "<eos>"
EMBED_DIM = 32

_DETERMINERS = "the a this that every one my your his her our their".split()
_ADJECTIVES = """small big red blue green old new happy sad quick slow bright dark quiet loud warm
cold soft hard young tall short heavy light clean dirty rich poor brave calm busy lazy fresh
strange tiny huge round sharp sweet bitter wild gentle proud shy clever silly noisy empty full
golden silver wooden wet dry early late friendly angry hungry tired lucky famous simple""".split()
_NOUNS = """cat dog bird fish horse cow sheep mouse rabbit fox bear lion tiger wolf duck owl frog
goat pig snake ball box book cup chair table door window house car bike boat train plane tree
flower river mountain lake garden road city village forest field apple orange bread cake cheese
egg lemon carrot potato tomato teacher doctor farmer baker child king queen girl boy friend
student artist singer driver pilot sailor cook nurse clock lamp bag hat coat shoe key pen paper
letter map picture song story game bell bottle basket blanket bridge castle island tower
engine robot phone camera guitar drum kite ladder mirror pillow rocket shell stone star moon
cloud storm wagon""".split()
_TRANSITIVE = """sees finds takes likes wants holds makes eats reads opens closes carries pushes
pulls watches loves hates buys sells paints draws builds breaks fixes cleans moves throws catches
follows helps meets visits chases hides keeps brings leaves tastes smells touches counts""".split()
_INTRANSITIVE = """runs sleeps sits waits sings dances jumps walks swims laughs cries smiles
falls shines rests plays works talks listens stays""".split()
_ADVERBS = """quickly slowly happily sadly quietly loudly softly gently carefully often rarely
today again later twice suddenly calmly badly well""".split()
_PREPOSITIONS = "on in under near behind with beside above below into over by".split()
_TOKEN_RE = re.compile(r"[\w']+|[^\w\s]")


def _zipf(n: int, s: float = 1.1) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def _pick(rng: np.random.Generator, words: Sequence[str]) -> str:
    return words[int(rng.choice(len(words), p=_zipf(len(words))))]


def _noun_phrase(rng: np.random.Generator) -> list[str]:
    det = _pick(rng, _DETERMINERS)
    n_adj = int(rng.choice(3, p=[0.5, 0.35, 0.15]))
    rest = [_pick(rng, _ADJECTIVES) for _ in range(n_adj)] + [_pick(rng, _NOUNS)]
    if det == "a" and rest[0][0] in "aeiou":
        det = "an"
    return [det, *rest]


def _clause(rng: np.random.Generator) -> list[str]:
    words = _noun_phrase(rng)
    kind = int(rng.choice(4, p=[0.4, 0.2, 0.25, 0.15]))
    if kind in (0, 3):  # S V O [PREP O]
        words += [_pick(rng, _TRANSITIVE), *_noun_phrase(rng)]
        if kind == 3:
            words += [_pick(rng, _PREPOSITIONS), *_noun_phrase(rng)]
    elif kind == 1:  # S V ADV
        words += [_pick(rng, _INTRANSITIVE), _pick(rng, _ADVERBS)]
    else:  # S V PREP O
        words += [_pick(rng, _INTRANSITIVE), _pick(rng, _PREPOSITIONS), *_noun_phrase(rng)]
    return words


def _document(rng: np.random.Generator) -> str:
    sentences: list[str] = []
    for _ in range(int(rng.integers(2, 7))):
        words = _clause(rng)
        if rng.random() < 0.2:
            words += ["and", *_clause(rng)]
        sentences.append(" ".join([*words, "."]))
    return " ".join(sentences)


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def _write_bytes(path: str, data: bytes, *, atomic: bool = False) -> None:
    """Write ``data`` to ``path``; ``atomic`` writes a temp file then moves it into place."""
    fs, target = fsspec.core.url_to_fs(path)
    if "/" in target.rstrip("/"):
        fs.makedirs(target.rstrip("/").rsplit("/", 1)[0], exist_ok=True)
    tmp = f"{target}.tmp" if atomic else target
    with fs.open(tmp, "wb") as f:
        f.write(data)
    if atomic:
        fs.mv(tmp, target)


def _read_bytes(path: str) -> bytes:
    fs, target = fsspec.core.url_to_fs(path)
    with fs.open(target, "rb") as f:
        return f.read()


def _write_json(path: str, obj: Any) -> None:
    _write_bytes(path, json.dumps(obj, indent=2, sort_keys=True).encode())


def _read_json(path: str) -> Any:
    return json.loads(_read_bytes(path))


def _save_npy(path: str, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    _write_bytes(path, buf.getvalue())


def _load_npy(path: str) -> np.ndarray:
    return np.load(io.BytesIO(_read_bytes(path)))


def _save_params(directory: str, params: dict[str, np.ndarray], step: int) -> None:
    """Write ``params.npz`` via a temp file + move so readers never see a partial file."""
    buf = io.BytesIO()
    np.savez(buf, emb=params["emb"], out=params["out"], step=np.asarray(step))
    _write_bytes(_join(directory, "params.npz"), buf.getvalue(), atomic=True)


def _load_params(directory: str) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(_read_bytes(_join(directory, "params.npz")))) as data:
        return {k: data[k] for k in data.files}


def generate_corpus(
    output_path: str, *, seed: int = 0, n_train_docs: int = 400, n_validation_docs: int = 50
) -> dict[str, Any]:
    """Write a synthetic English-like corpus (one document per line) from a toy grammar.

    Example:
        >>> generate_corpus("memory://c", seed=1)["train"]["docs"]  # doctest: +SKIP
        400
        # memory://c/train/part-0.txt: "the small cat sees a red ball . ..."
    """
    stats: dict[str, Any] = {"seed": seed}
    for index, split in enumerate(("train", "validation")):
        n_docs = n_train_docs if split == "train" else n_validation_docs
        rng = np.random.default_rng([seed, index])
        docs = [_document(rng) for _ in range(n_docs)]
        _write_bytes(
            _join(output_path, split, "part-0.txt"), "".join(d + "\n" for d in docs).encode()
        )
        stats[split] = {"docs": n_docs, "words": sum(len(d.split()) for d in docs)}
    logger.info("Wrote corpus to %s: %s", output_path, stats)
    return stats


def _read_documents(paths: list[str]) -> list[list[str]]:
    docs: list[list[str]] = []
    for path in paths:
        fs, root = fsspec.core.url_to_fs(path)
        files = sorted(fs.glob(_join(root, "*.txt"))) if fs.isdir(root) else [root]
        if not files:
            raise FileNotFoundError(f"No *.txt files under {path}")
        for file in files:
            with fs.open(file, "rb") as f:
                text = f.read().decode("utf-8")
            docs += [_TOKEN_RE.findall(line.lower()) for line in text.splitlines() if line.strip()]
    return docs


def _encode(docs: list[list[str]], ids: dict[str, int]) -> np.ndarray:
    unk, eos = ids[UNK], ids[EOS]
    out = [i for doc in docs for i in [*(ids.get(w, unk) for w in doc), eos]]
    return np.asarray(out, dtype=np.int32)


def tokenize(
    input_paths: list[str],
    output_path: str,
    *,
    vocab_size: int = 256,
    validation_paths: list[str] | None = None,
) -> dict[str, Any]:
    """Build a word-level vocabulary from ``input_paths`` and write token ids as ``.npy``.

    Ids: 0 = ``<unk>``, 1 = ``<eos>``, then words by descending frequency (ties alphabetical).
    Every document is followed by ``<eos>``.

    Example:
        >>> tokenize(["memory://c/train"], "memory://t", validation_paths=["memory://c/validation"])
        ... # doctest: +SKIP
        # writes memory://t/{vocab.json,train.npy,validation.npy}
    """
    if vocab_size < 3:
        raise ValueError(f"vocab_size must be >= 3, got {vocab_size}")
    train_docs = _read_documents(input_paths)
    counts = Counter(w for doc in train_docs for w in doc)  # "<unk>" in text splits into 3 words
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: vocab_size - 2]
    tokens = [UNK, EOS, *(w for w, _ in ranked)]
    ids = {w: i for i, w in enumerate(tokens)}
    _write_json(
        _join(output_path, "vocab.json"),
        {"tokens": tokens, "unk_id": ids[UNK], "eos_id": ids[EOS], "vocab_size": len(tokens)},
    )
    stats: dict[str, Any] = {"vocab_size": len(tokens), "distinct_train_words": len(counts)}
    splits = [("train", train_docs)]
    if validation_paths is not None:
        splits.append(("validation", _read_documents(validation_paths)))
    for split, docs in splits:
        arr = _encode(docs, ids)
        _save_npy(_join(output_path, f"{split}.npy"), arr)
        unk_rate = float(np.mean(arr == ids[UNK])) if arr.size else 0.0
        stats[split] = {"docs": len(docs), "tokens": int(arr.size), "unk_rate": unk_rate}
    logger.info("Tokenised into %s: %s", output_path, stats)
    return stats


def _log_probs(params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Log-softmax of the bigram logits ``emb[x] @ out``, shape ``(len(x), vocab)``."""
    logits = params["emb"][x] @ params["out"]
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def _mean_loss(params: dict[str, np.ndarray], tokens: np.ndarray, chunk: int = 8192) -> float:
    """Mean next-token cross-entropy over a whole token stream (computed in chunks)."""
    total = 0.0
    for start in range(0, tokens.size - 1, chunk):
        x, y = tokens[start : start + chunk], tokens[start + 1 : start + chunk + 1]
        total -= float(_log_probs(params, x[: len(y)])[np.arange(len(y)), y].sum())
    return total / (tokens.size - 1)


def train(
    tokens_path: str,
    output_path: str,
    *,
    learning_rate: float,
    steps: int = 300,
    batch_size: int = 256,
    seed: int = 0,
    checkpoint_every: int = 100,
) -> dict[str, Any]:
    """Train a neural bigram LM (``logits = E[x] @ W``, dim 32) with Adam on ``train.npy``.

    Writes ``checkpoints/step-{n}/params.npz`` every ``checkpoint_every`` steps (<= 0 disables),
    ``model/params.npz`` and ``train_metrics.json`` under ``output_path``.

    Example:
        >>> train("memory://t", "memory://run", learning_rate=0.05)["final_train_loss"]
        ... # doctest: +SKIP
    """
    if steps < 0 or batch_size < 1 or learning_rate < 0:
        raise ValueError("need steps >= 0, batch_size >= 1, learning_rate >= 0")
    vocab_size = int(_read_json(_join(tokens_path, "vocab.json"))["vocab_size"])
    tokens = _load_npy(_join(tokens_path, "train.npy"))
    if tokens.size < 2:
        raise ValueError(f"{tokens_path}/train.npy needs at least 2 tokens")
    rng = np.random.default_rng(seed)
    params = {
        "emb": rng.normal(0.0, 1.0, (vocab_size, EMBED_DIM)),
        "out": rng.normal(0.0, 0.01, (EMBED_DIM, vocab_size)),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    initial_loss = _mean_loss(params, tokens)
    curve: list[list[float]] = []
    log_every = max(1, steps // 20)
    checkpoints: list[str] = []
    for step in range(1, steps + 1):
        idx = rng.integers(0, tokens.size - 1, size=batch_size)
        x, y = tokens[idx], tokens[idx + 1]
        log_probs = _log_probs(params, x)
        loss = -float(log_probs[np.arange(batch_size), y].mean())
        probs = np.exp(log_probs)
        probs[np.arange(batch_size), y] -= 1.0  # d loss / d logits (times batch_size)
        d_logits = probs / batch_size
        d_emb = np.zeros_like(params["emb"])
        np.add.at(d_emb, x, d_logits @ params["out"].T)
        d_out = params["emb"][x].T @ d_logits
        for name, grad in (("emb", d_emb), ("out", d_out)):
            m, v = moments[name]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
            params[name] -= learning_rate * m_hat / (np.sqrt(v_hat) + eps)
        if step % log_every == 0 or step == steps:
            curve.append([step, loss])
            logger.info("step %d/%d batch loss %.4f", step, steps, loss)
        if checkpoint_every > 0 and step % checkpoint_every == 0:
            ckpt = _join(output_path, "checkpoints", f"step-{step}")
            _save_params(ckpt, params, step)
            checkpoints.append(ckpt)
    model_path = _join(output_path, "model")
    _save_params(model_path, params, steps)
    metrics: dict[str, Any] = {
        "initial_train_loss": initial_loss,
        "final_train_loss": _mean_loss(params, tokens),
        "final_batch_loss": curve[-1][1] if curve else initial_loss,
        "loss_curve": curve,
        "steps": steps,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "seed": seed,
        "vocab_size": vocab_size,
        "train_tokens": int(tokens.size),
        "checkpoints": checkpoints,
        "model_path": model_path,
    }
    _write_json(_join(output_path, "train_metrics.json"), metrics)
    logger.info(
        "Trained %s: loss %.4f -> %.4f", output_path, initial_loss, metrics["final_train_loss"]
    )
    return metrics


def evaluate(
    model_path: str, tokens_path: str, output_path: str, *, split: str = "validation"
) -> dict[str, Any]:
    """Mean cross-entropy and perplexity of ``{model_path}/params.npz`` on ``{split}.npy``.

    Example:
        >>> evaluate("memory://run/model", "memory://t", "memory://eval")  # doctest: +SKIP
        {'loss': 2.9, 'perplexity': 18.2, 'tokens': 6200, 'model_path': 'memory://run/model'}
    """
    params = _load_params(model_path)
    tokens = _load_npy(_join(tokens_path, f"{split}.npy"))
    if tokens.size < 2:
        raise ValueError(f"{tokens_path}/{split}.npy needs at least 2 tokens")
    if int(tokens.max()) >= params["emb"].shape[0]:
        raise ValueError(f"token ids in {tokens_path} exceed the model's vocabulary")
    loss = _mean_loss(params, tokens)
    metrics: dict[str, Any] = {
        "loss": loss,
        "perplexity": math.exp(loss),
        "tokens": int(tokens.size - 1),
        "model_path": model_path,
    }
    _write_json(_join(output_path, "metrics.json"), metrics)
    logger.info("Evaluated %s on %s/%s: %s", model_path, tokens_path, split, metrics)
    return metrics


def list_checkpoints(checkpoints_path: str) -> list[tuple[int, str]]:
    """Complete ``step-N`` dirs under ``checkpoints_path`` as ``(N, path)``, by N.

    A dir counts once its ``params.npz`` exists, so a half-written checkpoint is skipped.

    Example:
        >>> list_checkpoints("memory://run/checkpoints")  # doctest: +SKIP
        [(100, 'memory://run/checkpoints/step-100'), (200, 'memory://run/checkpoints/step-200')]
    """
    fs, root = fsspec.core.url_to_fs(checkpoints_path)
    fs.invalidate_cache(root)
    if not fs.isdir(root):
        return []
    found: list[tuple[int, str]] = []
    for entry in fs.ls(root, detail=False):
        name = str(entry).rstrip("/").rsplit("/", 1)[-1]
        match = re.fullmatch(r"step-(\d+)", name)
        if match and fs.exists(_join(str(entry), "params.npz")):
            found.append((int(match.group(1)), _join(checkpoints_path, name)))
    return sorted(found)


def latest_checkpoint(checkpoints_path: str) -> str | None:
    """Return the complete ``step-N`` dir with the largest N under ``checkpoints_path``, or None.

    Example:
        >>> latest_checkpoint("memory://run/checkpoints")  # doctest: +SKIP
        'memory://run/checkpoints/step-300'
    """
    found = list_checkpoints(checkpoints_path)
    return found[-1][1] if found else None
