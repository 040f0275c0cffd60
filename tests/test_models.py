import pytest
import torch

from engine.config import ModelConfig
from engine.nn.models import build_model, count_params, param_count, truncate
from engine.presets import CLASSIC_CNN, FAST_CNN, PRESETS, SEED_MLP


def test_classic_network_is_the_pytorch_mnist_example():
    m = build_model(CLASSIC_CNN)
    assert count_params(m) == 21_840  # 260 + 5,020 + 16,050 + 510
    assert m.conv1.weight.shape == (10, 1, 5, 5) and m.conv2.weight.shape == (20, 10, 5, 5)
    assert m.fc1.in_features == 320 and m.out.out_features == 10
    m.eval()
    out = m(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(3))  # log-softmax output


def test_seed_mlp_is_the_quickstart_network():
    m = build_model(SEED_MLP)
    assert count_params(m) == 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    assert m(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize(
    "cfg",
    [
        FAST_CNN,
        ModelConfig(channels=(8, 16, 32), kernel_sizes=(3, 3, 3), padding="same", pool="avg"),
        ModelConfig(channels=(4,), kernel_sizes=(7,), pool="none", activation="gelu"),
        ModelConfig(activation="tanh", hidden=(64, 32), dropout=0.0),
    ],
)
def test_configurable_cnns_build_and_count_like_the_meta_device(cfg):
    m = build_model(cfg)
    assert m(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert param_count(cfg) == count_params(m)


def test_truncation_yields_embeddings_and_shares_weights():
    m = build_model(CLASSIC_CNN).eval()
    assert m.embedding_layer() == "flatten"  # the conv features: measured best for new classes
    sub = truncate(m, "fc1")
    x = torch.randn(4, 1, 28, 28)
    assert sub(x).shape == (4, 50)
    assert truncate(m, m.embedding_layer())(x).shape == (4, 320)
    assert truncate(m, "act1")(x).shape == (4, 10, 12, 12)
    assert truncate(m, "act2")(x).shape == (4, 20, 4, 4)
    assert sub.fc1 is m.fc1  # a view of the trained model, not a copy
    with pytest.raises(ValueError, match="no layer named"):
        truncate(m, "conv9")
    assert build_model(SEED_MLP).embedding_layer() == "fc2"  # an MLP's flatten is the pixels
    assert build_model(ModelConfig(hidden=())).embedding_layer() == "flatten"


def test_the_seed_keras_network_counts_599520_up_to_dense_128():
    m = build_model(PRESETS["seed-greek-cnn"].model)
    assert count_params(truncate(m, "fc1")) == 599_520  # 320 + 9,248 + 589,952
    assert m.embedding_layer() == "flatten"


def test_pooling_can_follow_chosen_conv_layers_only():
    cfg = ModelConfig(channels=(4, 4, 4), kernel_sizes=(3, 3, 3), pool_after=(1, 3))
    m = build_model(cfg)
    assert [n for n in m.layer_names if n.startswith("pool")] == ["pool1", "pool3"]
    assert m(torch.randn(2, 1, 28, 28)).shape == (2, 10)  # 28 → 26 → 13 → 11 → 9 → 4
    assert param_count(cfg) == count_params(m)


def test_batchnorm_follows_the_pooling_and_old_configs_keep_their_order():
    """BatchNorm after the pooling normalises a quarter of the values (the `fast` preset's
    speed); a config saved before that option existed rebuilds its network as it was trained."""
    from engine.config import TrainConfig

    bn = ModelConfig(channels=(4, 8), kernel_sizes=(3, 3), padding="same", batchnorm=True)
    names = list(build_model(bn)._modules)
    assert names[:4] == ["conv1", "pool1", "bn1", "act1"]
    saved = TrainConfig(model=bn).to_dict()
    del saved["model"]["bn_after_pool"]
    old = TrainConfig.from_dict(saved).model
    assert list(build_model(old)._modules)[:4] == ["conv1", "bn1", "pool1", "act1"]
    # Same weights, positive BN scales, eval mode: both orders give the same scores, so the
    # reorder changes what training sees, not what a trained BN network computes.
    torch.manual_seed(0)
    a, b = build_model(bn).eval(), build_model(old).eval()
    for m in a.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.bias.data.normal_()
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 1, 28, 28)
    assert torch.allclose(a(x), b(x), atol=1e-5)
