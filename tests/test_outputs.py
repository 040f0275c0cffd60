"""What a model's outputs mean is decided in one place (engine.nn.models): the classic network ends
in log-softmax, the others give logits; loss and probabilities follow from that alone."""

import pytest
import torch
import torch.nn.functional as F

from engine.nn.models import build_model, loss_function, output_kind, probabilities, score_model
from engine.presets import CLASSIC_CNN, FAST_CNN, SEED_MLP


@pytest.mark.parametrize(
    ("cfg", "kind"),
    [(CLASSIC_CNN, "log_probabilities"), (FAST_CNN, "logits"), (SEED_MLP, "logits")],
    ids=["classic", "fast", "mlp"],
)
def test_loss_and_probabilities_are_the_same_cross_entropy_for_every_kind(cfg, kind):
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    x, y = torch.randn(5, 1, 28, 28), torch.tensor([0, 3, 9, 1, 1])
    with torch.no_grad():
        out, logits = model(x), score_model(model)(x)
    assert output_kind(cfg) == kind
    # Whatever the head, the loss is the cross-entropy of the class scores (logits) ...
    want = F.cross_entropy(logits, y)
    torch.testing.assert_close(loss_function(cfg)(out, y), want)
    # ... and the probabilities are their softmax.
    torch.testing.assert_close(probabilities(cfg, out), logits.softmax(1))
    torch.testing.assert_close(probabilities(cfg, out).sum(1), torch.ones(5))
