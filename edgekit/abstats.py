"""Is the candidate slower than the base? The one answer, for ``edgekit compare``, ``budget
check --against`` and a budget's ``max_regression_pct``.

Each side is one or more runs of per-call samples, each run cut into blocks of consecutive
calls (``compare`` times them as alternating blocks; a stored run is cut into ``BLOCKS``).
Samples inside a block are not independent (a slow phase of the machine makes a run of slow
calls), so the statistics work on blocks, never call by call:

- **ratio**: median(candidate) / median(base), over every sample;
- **95 % interval** of the ratio: a block bootstrap (``BOOTSTRAP`` resamples of each side's
  blocks, the medians of the resampled samples);
- **p**: the two-sided Mann-Whitney U test on the blocks' medians (scipy), as asv's
  ``compare`` decides a change by a ratio threshold *and* Mann-Whitney on its samples;
- **verdict**: ``slower`` when the ratio is above 1 + threshold **and** p < alpha, ``faster``
  when below 1 / (1 + threshold) and p < alpha, else ``no change``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

BLOCKS = 10  # blocks a stored run is cut into
BOOTSTRAP = 1000
ALPHA = 0.01
THRESHOLD_PCT = 5.0  # the smallest change called slower or faster (asv's factor is 10 %)


@dataclass(frozen=True)
class Verdict:
    verdict: str  # slower | faster | no change
    ratio: float  # median(candidate) / median(base)
    low: float  # the 95 % interval of the ratio (block bootstrap)
    high: float
    p_value: float | None  # Mann-Whitney U on block medians (None: too few blocks)
    threshold_pct: float
    alpha: float
    blocks: tuple[int, int]  # (base, candidate)
    samples: tuple[int, int]

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1) * 100

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["change_pct"] = round(self.change_pct, 3)
        return d

    def describe(self) -> str:
        p = "p n/a" if self.p_value is None else f"p {self.p_value:.2g}"
        return (f"{self.verdict}: p50 x{self.ratio:.3f} ({self.change_pct:+.1f} %, 95 % interval "
                f"x{self.low:.3f}..x{self.high:.3f}; Mann-Whitney {p} on {self.blocks[0]} vs "
                f"{self.blocks[1]} blocks; threshold {self.threshold_pct:g} %, alpha "
                f"{self.alpha:g})")


def blocks_of(runs: list[list[float]] | list[np.ndarray], per_run: int = BLOCKS
              ) -> list[np.ndarray]:
    """Stored runs cut into ``per_run`` blocks of consecutive samples each."""
    out = []
    for r in runs:
        a = np.asarray(r, float)
        if len(a):
            out += [b for b in np.array_split(a, min(per_run, len(a))) if len(b)]
    return out


def _boot_medians(blocks: list[np.ndarray], rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        out[i] = np.median(np.concatenate([blocks[k] for k in rng.integers(0, len(blocks),
                                                                          len(blocks))]))
    return out


def interval(base: list[np.ndarray], cand: list[np.ndarray], seed: int = 0,
             n: int = BOOTSTRAP) -> tuple[float, float, float]:
    """(ratio, low, high): median(cand) / median(base) and its 95 % block-bootstrap interval."""
    rng = np.random.default_rng(seed)
    ratios = _boot_medians(cand, rng, n) / _boot_medians(base, rng, n)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    point = float(np.median(np.concatenate(cand)) / np.median(np.concatenate(base)))
    return point, float(lo), float(hi)


def mann_whitney(a: list[float], b: list[float]) -> float | None:
    """Two-sided Mann-Whitney U p-value (scipy's, asymptotic with ties corrected); None with
    fewer than 3 values a side."""
    if len(a) < 3 or len(b) < 3:
        return None
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def decide(base: list[np.ndarray], cand: list[np.ndarray], threshold_pct: float = THRESHOLD_PCT,
           alpha: float = ALPHA, seed: int = 0) -> Verdict:
    """The verdict on two sides' blocks (see the module docstring)."""
    if not base or not cand:
        raise ValueError("both sides need samples")
    ratio, lo, hi = interval(base, cand, seed)
    p = mann_whitney([float(np.median(b)) for b in base], [float(np.median(b)) for b in cand])
    t = 1 + threshold_pct / 100
    significant = p is not None and p < alpha
    verdict = ("slower" if significant and ratio > t else
               "faster" if significant and ratio < 1 / t else "no change")
    return Verdict(verdict=verdict, ratio=round(ratio, 5), low=round(lo, 5), high=round(hi, 5),
                   p_value=None if p is None else float(f"{p:.4g}"), threshold_pct=threshold_pct,
                   alpha=alpha, blocks=(len(base), len(cand)),
                   samples=(sum(len(b) for b in base), sum(len(b) for b in cand)))
