"""tasks.classify: the top-1 comparison of logits, scale-free and blind to near-ties."""
import numpy as np
import pytest

from edgekit.tasks import EXPORT_TOLERANCE, classify


def compare(ref: np.ndarray, out: np.ndarray) -> classify.tensor.Comparison:
    return classify.compare([ref], [out])


def test_identical_outputs_pass_at_any_scale() -> None:
    ref = np.random.default_rng(0).normal(size=(4, 10)) * 1e-10  # random-init MobileNetV3 scale
    c = compare(ref, ref.astype(np.float32))
    assert c.passes(EXPORT_TOLERANCE)
    assert c.cosine_min > 0.99999 and c.top1_agreement == 1.0


def test_wrong_outputs_fail() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(4, 10))
    c = compare(ref, rng.normal(size=(4, 10)))
    assert not c.passes(EXPORT_TOLERANCE)
    assert "cosine" in c.failure(EXPORT_TOLERANCE)


def test_near_tie_flip_is_not_counted_but_decisive_flip_is() -> None:
    ref = np.array([[1.0, 1.0 - 1e-9, 0.0], [5.0, 0.0, 0.0]])
    tie_flip = np.array([[1.0 - 1e-9, 1.0, 0.0], [5.0, 0.0, 0.0]])
    c = compare(ref, tie_flip)
    assert c.top1_agreement == 0.5 and c.decisive_top1_agreement == 1.0
    real_flip = np.array([[1.0, 1.0 - 1e-9, 0.0], [0.0, 5.0, 0.0]])
    assert compare(ref, real_flip).decisive_top1_agreement == 0.0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"output shape \(2, 5\) differs from the reference's"):
        compare(np.zeros((2, 10)), np.zeros((2, 5)))
