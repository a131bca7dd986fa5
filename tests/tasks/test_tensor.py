"""tasks.tensor: every output compared by cosine and SQNR, scale-free."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.tasks import EXPORT_TOLERANCE, tensor


def test_sqnr_measures_the_noise_power_against_the_signal() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(8, 64))
    noise = rng.normal(size=ref.shape)
    noise *= np.sqrt(0.01 * np.square(ref).sum() / np.square(noise).sum())  # 1 % of the power
    assert tensor.sqnr_db(ref, ref + noise) == pytest.approx(20.0, abs=1e-6)
    assert tensor.sqnr_db(ref, ref) == tensor.SQNR_CAP_DB


def test_every_output_is_compared_and_the_worst_one_decides() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 3, 5, 5)), rng.normal(size=(4, 10)) * 1e-9  # any scale
    c = tensor.compare([a, b], [a, b + rng.normal(size=b.shape) * 1e-10], ["map", "vec"])
    assert [o["name"] for o in c.outputs] == ["map", "vec"]
    assert c.outputs[0]["sqnr_db"] == tensor.SQNR_CAP_DB
    assert c.sqnr_db == c.outputs[1]["sqnr_db"] < 30
    assert c.top1_agreement is None and "top-1" not in c.failure(EXPORT_TOLERANCE)
    assert not c.passes(EXPORT_TOLERANCE)  # the second output moved
    assert tensor.compare([a], [a]).passes(EXPORT_TOLERANCE)


def test_a_different_count_or_shape_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 outputs, the reference has 1"):
        tensor.compare([np.zeros((2, 3))], [np.zeros((2, 3)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match="differs from the reference's"):
        tensor.compare([np.zeros((2, 3))], [np.zeros((2, 4))])
