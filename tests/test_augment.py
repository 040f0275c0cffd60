import torch

from engine.data.augment import augment
from engine.data.datasets import normalize

BLACK = float(normalize(torch.zeros(1, 1), "mnist").min())  # a black pixel, normalised


def _digits(mnist, n=32):
    return normalize(mnist.x_train[:n], "mnist")


def test_no_augmentation_is_the_identity(mnist):
    x = _digits(mnist)
    assert augment(x, (), torch.Generator().manual_seed(0), BLACK) is x


def test_each_kind_changes_the_images_but_keeps_shape_range_and_ink(mnist):
    x = _digits(mnist)
    every = ("affine", "elastic", "stroke", "photo")
    for kinds in (("affine",), ("elastic",), ("stroke",), ("photo",), every):
        y = augment(x, kinds, torch.Generator().manual_seed(0), BLACK)
        assert y.shape == x.shape and not torch.equal(y, x), kinds
        assert y.min() >= BLACK - 1e-4 and y.max() <= x.max() + 1e-4  # no new colours
        # The digit stays: most of its ink survives (a mild distortion, not a different image).
        ink_before, ink_after = (x > 0).float().mean(), (y > 0).float().mean()
        assert 0.5 < ink_after / ink_before < 2.0, kinds
        # The paper stays black where it was far from any ink.
        corners = y[:, :, :2, :2]
        assert torch.allclose(corners, torch.full_like(corners, BLACK), atol=1e-4), kinds


def test_the_same_generator_seed_gives_the_same_distortions(mnist):
    x = _digits(mnist)
    a = augment(x, ("affine", "elastic"), torch.Generator().manual_seed(3), BLACK)
    b = augment(x, ("affine", "elastic"), torch.Generator().manual_seed(3), BLACK)
    c = augment(x, ("affine", "elastic"), torch.Generator().manual_seed(4), BLACK)
    assert torch.equal(a, b) and not torch.equal(a, c)
