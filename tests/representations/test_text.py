"""Text models: token ids, text files through the model's own tokenizer, dicts with attention
masks, and every layer's hidden state (output_hidden_states) pooled per sample. Tiny BERT-
and GPT-2-style models and vocabularies are written by the tests (nothing is downloaded)."""

import contextlib
import io
import json
import math
import subprocess

import numpy as np
import pytest
import torch

from idscope import InputError
from idscope.cli.main import main
from idscope.representations import activations, profile
from idscope.representations.hidden_states import HiddenStates, pool_tokens
from idscope.representations.text import TokenInputs, load_tokenizer, text_inputs

transformers = pytest.importorskip("transformers")

WORDS = ("the a cat dog sat ran on under mat rug red blue big small quickly slowly and "
         "then it was").split()
LINES = [" ".join(np.random.default_rng(i).choice(WORDS, size=3 + i % 7)) for i in range(48)]


def bert_dir(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path / "bert"
    folder.mkdir()
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=3,
                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(folder)
    return folder


def gpt2_dir(tmp_path):
    """A byte-level GPT-2 tokenizer with no merges (one token per byte) and a tiny model."""
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    folder = tmp_path / "gpt2"
    folder.mkdir()
    symbols = bytes_to_unicode()
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    GPT2Tokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")).save_pretrained(
        folder)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(vocab), n_embd=16, n_layer=2, n_head=2, n_positions=128,
                     bos_token_id=len(vocab) - 1, eos_token_id=len(vocab) - 1)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def bytes_to_unicode():
    """GPT-2's printable stand-in for each of the 256 bytes (Radford et al.'s encoder.py)."""
    bs = [*range(33, 127), *range(161, 173), *range(174, 256)]
    cs = bs[:]
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + len(cs) - 188)
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def manual_hidden(model, ids, mask, pooling):
    with torch.no_grad():
        states = model(input_ids=ids, attention_mask=mask, output_hidden_states=True
                       ).hidden_states
    return [pool_tokens(h, mask, pooling).numpy() for h in states]


@pytest.mark.parametrize("pooling", ["mean", "first", "last", "tokens"])
def test_hidden_states_match_a_manual_forward(tmp_path, pooling):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(bert_dir(tmp_path), local_files_only=True)
    inputs = text_inputs(model, _write(tmp_path, LINES), max_length=16)
    ids, mask = inputs.tensors["input_ids"], inputs.tensors["attention_mask"]
    assert (mask == 0).any()  # lines of different lengths: padding is exercised
    wrapped = HiddenStates(model, pooling=pooling, max_tokens=4)
    st = activations(wrapped, {"input_ids": ids, "attention_mask": mask}, batch_size=10)
    assert st.layers == [f"hidden.{i}" for i in range(4)]
    assert [st.info(n)["relative_depth"] for n in st.layers] == [0, 1 / 3, 2 / 3, 1]
    with torch.no_grad():
        states = model(input_ids=ids, attention_mask=mask, output_hidden_states=True
                       ).hidden_states
    for name, h in zip(st.layers, states):
        m = mask[..., None].float()
        want = {"mean": (h * m).sum(1) / m.sum(1), "first": h[:, 0],
                "last": h[torch.arange(len(h)), mask.sum(1) - 1],
                "tokens": (h[:, :4] * m[:, :4]).reshape(len(h), -1)}[pooling]
        np.testing.assert_allclose(np.asarray(st[name]), want.numpy(), rtol=1e-5, atol=1e-6)


def test_hidden_states_of_a_vision_transformer_on_images():
    model = transformers.ViTModel(transformers.ViTConfig(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        image_size=16, patch_size=4))
    x = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    st = activations(HiddenStates(model, "first"), x, layers="paper")
    assert st.layers == ["hidden.0", "hidden.1", "hidden.2"]
    model.eval()
    with torch.no_grad():
        states = model(pixel_values=x, output_hidden_states=True).hidden_states
    for name, h in zip(st.layers, states):
        np.testing.assert_allclose(np.asarray(st[name]), h[:, 0].numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_last_token_pooling_reads_the_mask_for_left_padding():
    h = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    np.testing.assert_array_equal(pool_tokens(h, right, "last")[0], h[0, 1])
    np.testing.assert_array_equal(pool_tokens(h, left, "last")[0], h[0, 3])
    np.testing.assert_allclose(pool_tokens(h, left, "mean")[0], h[0, 2:].mean(0))


def test_profile_of_a_dict_with_attention_mask_and_a_subset(tmp_path):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(bert_dir(tmp_path), local_files_only=True)
    inputs = text_inputs(model, _write(tmp_path, LINES), max_length=16)
    prof = profile(HiddenStates(model), dict(inputs.tensors), n=40, n_resamples=2,
                   compare="untrained", seed=0)
    assert prof.layers == [f"hidden.{i}" for i in range(4)]
    assert prof.meta["n_samples"] == 40 and prof.models == ["model", "untrained"]
    # a store is resumed only for the same tokens
    store = tmp_path / "store"
    activations(HiddenStates(model), dict(inputs.tensors), store=store)
    other = dict(inputs.tensors, input_ids=inputs.tensors["input_ids"].flip(0))
    with pytest.raises(InputError, match="different data"):
        activations(HiddenStates(model), other, store=store)
    for r in prof:
        assert math.isfinite(r.twonn) and 0 < r.twonn <= 17, r


def test_gpt2_presets_skip_token_ids_and_position_embeddings(tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(gpt2_dir(tmp_path), local_files_only=True)
    ids = torch.randint(0, 256, (6, 10), generator=torch.Generator().manual_seed(0))
    st = activations(model, ids, layers="all")
    assert "input" not in st.layers and "transformer.wpe" not in st.layers
    assert "transformer.wte" in st.layers and st.layers[-1] == "output"
    paper = activations(model, {"input_ids": ids}, layers="paper")
    assert "input" not in paper.layers and paper.n_samples == 6
    # the wrapper: the presets are the hidden states, embeddings first
    wrapped = activations(HiddenStates(model, "last"), ids, layers="paper")
    assert wrapped.layers == ["hidden.0", "hidden.1", "hidden.2"]
    want = manual_hidden(model, ids, torch.ones_like(ids), "last")
    for name, w in zip(wrapped.layers, want):
        np.testing.assert_allclose(np.asarray(wrapped[name]), w, rtol=1e-5, atol=1e-6)
    last = activations(HiddenStates(model), ids, layers="last_hidden")
    assert last.layers == ["hidden.2"]


def test_bad_token_inputs_give_one_clear_error():
    with pytest.raises(InputError, match="need 'input_ids'"):
        TokenInputs({"ids": np.zeros((2, 3), int)})
    with pytest.raises(InputError, match="array of integers"):
        TokenInputs({"input_ids": np.zeros((2, 3))})
    with pytest.raises(InputError, match="attention_mask has shape"):
        TokenInputs({"input_ids": np.zeros((2, 3), int), "attention_mask": np.ones((2, 4))})
    with pytest.raises(InputError, match="at least one token"):
        TokenInputs({"input_ids": np.zeros((2, 3), int), "attention_mask": np.zeros((2, 3))})
    with pytest.raises(InputError, match="negative"):
        TokenInputs({"input_ids": -np.ones((2, 3), int)})


def _write(tmp_path, lines):
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(lines) + "\n\n")
    return path


def _cli(*args):
    """The command run in this process (a subprocess would import torch and transformers
    again for each call): its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_cli_profiles_text_models_from_a_text_file_and_from_ids(tmp_path, kind):
    folder = (bert_dir if kind == "bert" else gpt2_dir)(tmp_path)
    text = _write(tmp_path, LINES)
    n_layers = 4 if kind == "bert" else 3
    out = _cli("profile", "--model", f"transformers:{folder}", "--data", text,
               "--resamples", "2", "--pooling", "mean" if kind == "bert" else "last",
               "--no-progress", "--json")
    assert out.returncode == 0, out.stderr
    prof = json.loads(out.stdout)
    layers = [r["layer"] for r in prof["rows"]]
    assert layers == [f"hidden.{i}" for i in range(n_layers)]
    assert all(math.isfinite(r["twonn"]) for r in prof["rows"])
    # the same lines as token ids (.npy and a .pt dict with the mask) give the same table
    tok = load_tokenizer(None, folder)
    enc = tok(LINES, padding=True, return_tensors="pt")
    np.save(tmp_path / "ids.npy", enc["input_ids"].numpy())
    torch.save({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]},
               tmp_path / "ids.pt")
    from_pt = _cli("profile", "--model", f"transformers:{folder}", "--data",
                   tmp_path / "ids.pt", "--resamples", "2", "--pooling",
                   "mean" if kind == "bert" else "last", "--no-progress", "--json")
    assert from_pt.returncode == 0, from_pt.stderr
    rows = json.loads(from_pt.stdout)["rows"]
    np.testing.assert_allclose([r["twonn"] for r in rows],
                               [r["twonn"] for r in prof["rows"]], rtol=1e-6)
    from_npy = _cli("profile", "--model", f"transformers:{folder}", "--data",
                    tmp_path / "ids.npy", "--resamples", "2", "--pooling", "first",
                    "--no-progress")
    assert from_npy.returncode == 0, from_npy.stderr
    assert "hidden.1" in from_npy.stdout
    # ids outside the vocabulary: one line, exit 2
    np.save(tmp_path / "big.npy", np.full((4, 3), 10_000))
    bad = _cli("profile", "--model", f"transformers:{folder}", "--data", tmp_path / "big.npy")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    (line,) = [s for s in bad.stderr.splitlines() if s.startswith("idscope profile: error")]
    assert "token id 10000 is outside the model's vocabulary of 25" in line
