"""transformers ResNet and ViT built from configurations (random init, no download) profile
end to end by layer name."""

import math

import numpy as np
import torch

from idscope.representations import activations, load_model, profile


def images(n=60, channels=3, size=16, seed=0):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def test_transformers_resnet_profile_by_layer_name():
    model = load_model("transformers:resnet", num_classes=4,
                       config={"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1],
                               "layer_type": "basic"})
    layers = ["input", "resnet.embedder", "resnet.encoder.stages.0",
              "resnet.encoder.stages.1", "resnet.pooler", "output"]
    prof = profile(model, images(), layers=layers, n_resamples=3, batch_size=25)
    assert [r.layer for r in prof] == layers
    dims = {r.layer: r.embedding_dim for r in prof}
    assert dims["input"] == 3 * 16 * 16 and dims["resnet.pooler"] == 16 and dims["output"] == 4
    depth = [r.relative_depth for r in prof]
    assert depth[0] == 0 and depth[-1] == 1 and depth == sorted(depth)
    for r in prof:
        assert math.isfinite(r.twonn) and 0 < r.twonn < r.embedding_dim + 1, r
        assert 1 <= r.pca <= r.embedding_dim
    # the head reads the pooled features: last_hidden is the Flatten before the classifier
    st = activations(model, images(8), layers="last_hidden")
    assert st.layers == ["classifier.0"] and st.info("classifier.0")["shape"] == [8, 16]


def test_transformers_vit_profile_with_sequence_policies():
    model = load_model("transformers:vit", num_classes=3,
                       config={"hidden_size": 16, "num_hidden_layers": 2,
                               "num_attention_heads": 2, "intermediate_size": 32,
                               "image_size": 16, "patch_size": 4})
    x = images()
    layers = ["vit.embeddings", "vit.layers.0", "vit.layers.1", "vit.layernorm", "output"]
    # the CLS token of the embeddings is the same for every image (cls_token + position
    # embedding), so average over tokens
    prof = profile(model, x, layers=layers, sequence="mean", n_resamples=3,
                   estimators=("twonn", "mle"), estimator_options={"mle": {"k": 10}})
    assert [r.layer for r in prof] == layers
    assert [r.embedding_dim for r in prof] == [16, 16, 16, 16, 3]
    for r in prof:
        assert math.isfinite(r.twonn) and math.isfinite(r.estimates["mle"]["dimension"]), r
    # flatten keeps every token (CLS + 16 patches); "first" is the CLS token
    flat = activations(model, x, layers=["vit.layernorm"], sequence="flatten")
    first = activations(model, x, layers=["vit.layernorm"], sequence="first")
    assert flat["vit.layernorm"].shape == (60, 17 * 16)
    np.testing.assert_array_equal(np.asarray(flat["vit.layernorm"])[:, :16],
                                  np.asarray(first["vit.layernorm"]))
