"""``edgekit compare BASE CANDIDATE``: a same-run A/B latency verdict.

Both sides are loaded in one process, on one backend with the same settings, and timed in
alternating blocks (base, candidate, candidate, base, ...: a slow phase of the machine hits
both, and neither always goes first), never call by call (ARCHITECTURE.md, rule 15). Each side
is fed the bundled photos by its own recipe, through the call profile times
(``RunnerBase.bind``). The verdict is ``abstats.decide``'s: the ratio of medians with its 95 %
block-bootstrap interval, and Mann-Whitney on the blocks' medians.

A side is an artifact (``.onnx``, an engine, a model spec), or a selection of the store:
``SERIES@COMMIT`` (a series key, or its prefix, and a commit prefix; ``results --json`` shows
both), which names the newest such result whose artifact is still on this machine.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import abstats, backends, manifest, timing
from edgekit.backends import RunnerBase, RunnerOptions
from edgekit.errors import ConfigError, SourceError
from edgekit.images import Stated
from edgekit.progress import Reporter

SCHEMA = "edgekit.compare/1"


@dataclass(kw_only=True)
class CompareOptions:
    backend: str | None = None  # None: the artifacts' default (ort for .onnx)
    runner: RunnerOptions = field(default_factory=RunnerOptions)
    batch: int = 1
    input_name: str | None = None
    duration_s: float = 10.0  # timed seconds, both sides together
    rounds: int = 20  # alternating rounds: one block of each side per round
    warmup: int = 10
    threshold_pct: float = abstats.THRESHOLD_PCT
    alpha: float = abstats.ALPHA
    max_regression_pct: float | None = None  # exit 3 when slower by more (None: when slower)
    store: str | None = None  # for SERIES@COMMIT sides
    preprocess: Stated = field(default_factory=Stated)


@dataclass(kw_only=True)
class CompareReport:
    base: dict[str, Any]
    candidate: dict[str, Any]
    verdict: abstats.Verdict
    settings: dict[str, Any]
    machine: dict[str, Any]
    max_regression_pct: float | None

    @property
    def regressed(self) -> bool:
        """Slower, and beyond ``--max-regression-pct`` where one was given."""
        limit = self.max_regression_pct
        return self.verdict.verdict == "slower" and (limit is None
                                                     or self.verdict.change_pct > limit)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "base": self.base, "candidate": self.candidate,
                "verdict": self.verdict.to_dict(), "regressed": self.regressed,
                "max_regression_pct": self.max_regression_pct, "settings": self.settings,
                "machine": self.machine}


def resolve_side(side: str, store: str | None) -> str:
    """An artifact path as given, or the artifact of the newest stored result of SERIES@COMMIT;
    one line for a selection that names nothing on this machine."""
    if Path(side).exists() or "@" not in side or ".py:" in side:
        return side
    from edgekit.store import Where, open_store

    series, commit = side.split("@", 1)
    if store is None:
        raise ConfigError(f"{side}: a SERIES@COMMIT side reads the store", "add --store")
    rows = open_store(store, create=False).query(
        [Where("series_key", "~", f"{series}*"), Where("git_commit", "~", f"{commit}*")])
    if not rows:
        raise ConfigError(f"{side}: no stored result of series {series} at commit {commit}",
                          "see `edgekit results --json` for series keys and commits")
    for r in rows:  # newest first
        if r["artifact"] and Path(r["artifact"]).is_file():
            return str(r["artifact"])
    raise SourceError(f"{side}: the artifact of its {len(rows)} result(s) is not on this "
                      f"machine ({rows[0]['artifact']})", "compare the artifact files")


def _check_inputs(a: RunnerBase, b: RunnerBase, base: str, cand: str) -> None:
    """Same input names, types and rank: sizes may differ (each side takes its own recipe)."""
    def sig(r: RunnerBase) -> list[tuple[str, str, int]]:
        return [(s.name, str(s.dtype), len(s.shape)) for s in r.input_spec()]

    if sig(a) != sig(b):
        def text(r: RunnerBase) -> str:
            return ", ".join(f"{s.name} {s.dtype}{list(s.shape)}" for s in r.input_spec())
        raise ConfigError(f"the two artifacts take different inputs (base {base}: {text(a)}; "
                          f"candidate: {text(b)})", "compare two versions of one model: the "
                          "same input names, types and rank", path=cand)


def _side(r: RunnerBase, target: str, man: manifest.Manifest | None,
          feeds: dict[str, np.ndarray], ms: np.ndarray) -> dict[str, Any]:
    p = Path(target)
    return {"target": target, "sha256": manifest.artifact_sha256(p, man) if p.is_file() else None,
            "input_shapes": {k: list(v.shape) for k, v in feeds.items()},
            "p50_ms": round(float(np.median(ms)), 4), "samples": len(ms),
            "timed_call": r.bound}


def _blocks(calls: list[Any], syncs: list[Any], opts: CompareOptions,
            rep: Reporter) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Warm-up, a block size from each side's speed, then the alternating rounds."""
    per = [float(np.median(timing.sample(c, warmup=opts.warmup, iterations=5, sync=s)))
           for c, s in zip(calls, syncs, strict=True)]
    block_s = opts.duration_s / (2 * opts.rounds)
    n = int(np.clip(block_s * 1000 / max(per + [1e-3]), 3, 10_000))
    out: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    with rep.stage(f"{opts.rounds} rounds of {n} runs a side") as st:
        for i in range(opts.rounds):
            for k in ((0, 1) if i % 2 == 0 else (1, 0)):
                out[k].append(timing.sample(calls[k], warmup=0, iterations=n, sync=syncs[k]))
        st["note"] = f"{2 * opts.rounds * n} runs"
    return out


def compare(base: str, cand: str, opts: CompareOptions, rep: Reporter | None = None
            ) -> CompareReport:
    from edgekit import profile as pf
    from edgekit.device import cpu_info, fingerprint, label

    rep = rep or Reporter()
    base, cand = resolve_side(base, opts.store), resolve_side(cand, opts.store)
    kinds = {pf.artifact_kind(t) for t in (base, cand)}
    for t in (base, cand):
        pf.check_file(t, pf.artifact_kind(t))
    if len(kinds) > 1:
        raise ConfigError(f"{base} and {cand} are different kinds of artifact",
                          "compare two .onnx files, two engines, or two model specs")
    spec = backends.get(opts.backend) if opts.backend else backends.default_for(kinds.pop())
    popts = pf.ProfileOptions(backend=spec.name, runner=opts.runner, input_name=opts.input_name,
                              preprocess=opts.preprocess, batches=(opts.batch,))
    load0 = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        with rep.stage("load both"):
            rs = [stack.enter_context(backends.runner(spec, t, opts.runner)) for t in (base, cand)]
        _check_inputs(rs[0], rs[1], base, cand)
        mans = [manifest.for_artifact(Path(t)) if pf.artifact_kind(t) != "source" else None
                for t in (base, cand)]  # read (and its sha256 checked) once per side
        feeds = [pf.feeds_for(r, m, popts, opts.batch, t)
                 for r, m, t in zip(rs, mans, (base, cand), strict=True)]
        for r, f in zip(rs, feeds, strict=True):
            r.infer(f)  # the outputs, outside the timed loop (and a first compile)
        blocks = _blocks([r.bind(f) for r, f in zip(rs, feeds, strict=True)],
                         [r.sync for r in rs], opts, rep)
        sides = [_side(r, t, m, f, np.concatenate(b))
                 for r, t, m, f, b in zip(rs, (base, cand), mans, feeds, blocks, strict=True)]
    verdict = abstats.decide(blocks[0], blocks[1], opts.threshold_pct, opts.alpha)
    fp = fingerprint()
    return CompareReport(
        base=sides[0], candidate=sides[1], verdict=verdict, max_regression_pct=opts.max_regression_pct,
        settings={"backend": spec.name, "device": opts.runner.device.value,
                  "threads": opts.runner.threads, "dtype": opts.runner.dtype.value,
                  "batch": opts.batch, "rounds": opts.rounds, "duration_s": opts.duration_s},
        machine={"device_name": label(fp, opts.runner.device.value),
                 "cpu_flags": cpu_info()["flags"], "load_avg_before": round(load0, 2),
                 "load_avg_after": round(os.getloadavg()[0], 2)})
