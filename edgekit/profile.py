"""``edgekit profile``: latency, memory and accuracy of an artifact on one runner -> Results.

Order of work, so each figure means one thing: check the request (backend, batch sizes, store)
before any work; [--tune]; then, with the peak-RSS baseline taken, load (session creation
time), the first (cold) inference, and per batch size the warm-up and the timed runs (one
engine at a time). Accuracy on --data runs last and is not part of the memory figure.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import accuracy, backends, e2e, evaluate, manifest, tasks, timing, variants
from edgekit.backends import BackendSpec, RunnerBase, RunnerOptions, TensorSpec
from edgekit.errors import ConfigError, SourceError
from edgekit.images import (
    Preprocess,
    Stated,
    bundled_photos,
    load_image_folder,
    load_unlabelled,
    mirrored,
    photo_batch,
    scan_image_folder,
    unlabelled_paths,
)
from edgekit.jetson import Power
from edgekit.manifest import Manifest
from edgekit.memory import PeakRss
from edgekit.precision import Precision
from edgekit.preprocessing import resolve
from edgekit.progress import Reporter
from edgekit.result import Measured, Result, assemble
from edgekit.sources import ENGINE_SUFFIXES
from edgekit.store import open_store, store_preflight
from edgekit.tasks import classify

SPLIT_ITERATIONS = 20


@dataclass(kw_only=True)
class ProfileOptions:
    backend: str | None = None  # a backends.REGISTRY name; None: the artifact's default
    runner: RunnerOptions = field(default_factory=RunnerOptions)
    batches: tuple[int, ...] = (1,)
    warmup: int = 10
    iterations: int | None = None  # else as many as fit `duration_s` (at least 10)
    duration_s: float = 3.0
    data: Path | None = None
    labels: Path | None = None
    ignore_index: int | None = None  # a segmenter's masks: the value that is no class (255)
    tune: bool = False
    input_name: str | None = None  # the image input of a multi-input model
    store: Path | str | None = None  # a folder, sqlite:///PATH or postgresql://...
    tag: str | None = None
    uid: str | None = None  # the results' keys are UID/bBATCH: a retried write is not a new row
    lab: dict[str, Any] | None = None  # set by a lab agent: its kind, name and host
    preprocess: Stated = field(default_factory=Stated)  # the flags, for a foreign ONNX
    agreement: Path | None = None  # unlabelled images: a variant's top-1 agreement with FP32
    conf: float = 0.25  # a detector's score threshold for its end-to-end latency
    commit: str | None = None  # --commit: the code's commit, over what git or CI say


@dataclass(kw_only=True)
class ProfileReport:
    results: list[Result]
    store: str | None
    claims: list[accuracy.Claim] = field(default_factory=list)  # per result: accuracy.claims

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "edgekit.profile/1", "store": self.store,
                "results": [r.to_dict(samples=False) for r in self.results],
                "claims": [c.to_dict() for c in self.claims]}


def artifact_kind(target: str) -> str:
    suffix = Path(target).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    return "engine" if suffix in ENGINE_SUFFIXES else "source"


def profile(target: str, opts: ProfileOptions, rep: Reporter | None = None) -> ProfileReport:
    rep = rep or Reporter()
    kind = artifact_kind(target)
    spec = backends.get(opts.backend) if opts.backend else backends.default_for(kind)
    _check_request(target, kind, spec, opts)
    man = manifest.for_artifact(Path(target)) if kind != "source" else None
    if man is not None:
        _check_batches(man.input, opts.batches, target)
    variants.check_dtype(man, spec, opts.runner, target)
    _check_task(man, opts, target)
    reference = variants.fp32_reference(man, opts.runner, opts.agreement, target)
    ropts, tuned = opts.runner, None
    if opts.tune:
        with rep.stage("tune") as st:
            ropts, tuned = _tune(target, spec, opts, man)
            st["note"] = f"{len(tuned['trials'])} settings tried"
    measured = _measure(target, spec, ropts, opts, man, rep)
    if measured.probe is not None:
        with rep.stage(f"verify {ropts.dtype.value if reference is None else 'vs FP32'}") as st:
            ver = _against_fp32(target, spec, ropts, measured.probe, opts, man, reference)
            measured.settings["verification"] = ver
            st["note"] = tasks.describe(ver)
    results = assemble(target, kind, spec.name, opts, man, measured, tuned)
    for r in results:
        r.uid = f"{opts.uid}/b{r.batch}" if opts.uid else r.uid
        r.lab = opts.lab
    store = open_store(opts.store) if opts.store is not None else None  # created on first save
    if store is not None:
        with rep.stage("store") as st:
            for r in results:
                r.id = store.add(r.to_dict())
            st["note"] = f"{len(results)} rows in {store.label}"
    return ProfileReport(results=results, store=store.label if store else None,
                         claims=_claims(results, store))


def _check_request(target: str, kind: str, spec: BackendSpec, opts: ProfileOptions) -> None:
    backends.check(spec, kind, opts.runner, tune=opts.tune)
    if not opts.batches or min(opts.batches) < 1:
        raise ConfigError("--batch takes positive sizes", "write e.g. --batch 1,8,32")
    check_file(target, kind)
    if opts.labels is not None and opts.data is None:
        raise ConfigError("--labels needs --data DIR", "add --data or drop --labels")
    if opts.agreement is not None:
        unlabelled_paths(opts.agreement)
    if opts.store is not None:
        store_preflight(opts.store)


def check_file(target: str, kind: str) -> None:
    """An artifact (not a model spec) is a file that is not empty: one line otherwise."""
    if kind != "source":
        p = Path(target)
        if not p.is_file():
            raise SourceError("file not found", "check the path", path=target)
        if p.stat().st_size == 0:
            raise SourceError("file is empty", "export or build it again", path=target)


def _check_batches(spec: TensorSpec | manifest.InputInfo | None, batches: tuple[int, ...],
                   target: str) -> None:
    fixed = spec.static_batch if spec else None
    bad = [b for b in batches if fixed is not None and b != fixed]
    if bad:
        raise ConfigError(f"the model has a static batch of {fixed}; it cannot run batch {bad[0]}",
                          f"use --batch {fixed}, or re-export with --batch dynamic", path=target)


def feeds_for(r: RunnerBase, man: Manifest | None, opts: ProfileOptions, batch: int,
              target: str) -> dict[str, np.ndarray]:
    """What profile times ``r`` on at ``batch``: the bundled photos by the artifact's recipe
    (``compare`` feeds both of its sides so)."""
    spec = r.input_spec()
    image = _image_input(spec, opts.input_name, target)
    _check_batches(image, (batch,), target)
    return _feeds(spec, image, _preprocess(r, man, image, opts, None, target), batch, target)


def _image_input(spec: list[TensorSpec], name: str | None, target: str) -> TensorSpec:
    if name is not None:
        for s in spec:
            if s.name == name:
                return s
        raise ConfigError(f"--input: the model has no input '{name}'",
                          f"its inputs: {', '.join(s.name for s in spec)}", path=target)
    if len(spec) > 1:
        raise ConfigError(f"the model has {len(spec)} inputs "
                          f"({', '.join(s.name for s in spec)})",
                          "name the image input with --input NAME", path=target)
    return spec[0]


def _preprocess(runner: RunnerBase, man: Manifest | None, image: TensorSpec,
                opts: ProfileOptions, rep: Reporter | None, target: str) -> Preprocess:
    """The resolver's recipe: the flags over the manifest's (or the ONNX's contract) over the
    runner's own over ImageNet's at the input's size (a symbolic size nothing states is one
    line); only accuracy on --data depends on it, so only then is an assumed recipe worth a
    warning."""
    return resolve(opts.preprocess, artifact=man.preprocess if man is not None else None,
                   model=runner.preprocess(), input_shape=image.shape, input_dtype=image.dtype,
                   input_name=image.name, where=target, rep=rep,
                   warn=opts.data is not None).preprocess


def _feeds(spec: list[TensorSpec], image: TensorSpec, pp: Preprocess, batch: int,
           target: str) -> dict[str, np.ndarray]:
    """The image input gets real photos (bundled; uint8 pixels for a fused model), other
    inputs zeros of their shape."""
    x = photo_batch(pp, count=min(batch, 8))
    return {image.name: np.ascontiguousarray(np.resize(x, (batch, *x.shape[1:])),
                                             dtype=image.dtype),
            **_other_inputs(spec, image, batch, target)}


def _other_inputs(spec: list[TensorSpec], image: TensorSpec, batch: int,
                  target: str) -> dict[str, np.ndarray]:
    """Zeros for every input but the image one (a model with ``--input NAME``)."""
    feeds = {}
    for s in spec:
        if s.name == image.name:
            continue
        dims = [batch if i == 0 else d for i, d in enumerate(s.shape)]
        if not all(isinstance(d, int) for d in dims):
            raise ConfigError(f"input '{s.name}' has dynamic dimensions {list(s.shape)}; edgekit "
                              "cannot fill it", "export the model with that input fixed",
                              path=target)
        feeds[s.name] = np.zeros([int(d) for d in dims], dtype=s.dtype)
    return feeds


def _measure(target: str, backend: BackendSpec, ropts: RunnerOptions, opts: ProfileOptions,
             man: Manifest | None, rep: Reporter) -> Measured:
    per_batch = []
    backends.preload(backend)  # the runtime's own import is not the model's memory
    with PeakRss() as mem, Power() as power:
        with rep.stage("load") as st:
            r = backends.runner(backend, target, ropts)
            r.__enter__()
        try:
            spec = r.input_spec()
            image = _image_input(spec, opts.input_name, target)
            _check_batches(image, opts.batches, target)
            pp = _preprocess(r, man, image, opts, rep, target)
            st["note"] = f"{r.create_ms:.0f} ms"
            first_ms = 0.0
            for i, b in enumerate(opts.batches):
                feeds = _feeds(spec, image, pp, b, target)
                if i == 0:
                    t0 = time.perf_counter_ns()
                    r.infer(feeds)
                    r.sync()
                    first_ms = (time.perf_counter_ns() - t0) / 1e6
                with rep.stage(f"batch {b}") as st:
                    t0s = time.perf_counter()
                    ms = timing.sample(r.bind(feeds), warmup=opts.warmup,
                                       iterations=opts.iterations, duration_s=opts.duration_s,
                                       sync=r.sync)
                    window = (t0s, time.perf_counter())
                    mem.checkpoint()
                    split = r.split_ms(feeds, SPLIT_ITERATIONS)
                    st["note"] = f"{len(ms)} runs, p50 {np.median(ms):.3f} ms"
                per_batch.append({"batch": b, "samples": ms, "split": split,
                                  "input_shapes": {k: list(v.shape) for k, v in feeds.items()},
                                  "energy": power.energy(window, float(np.mean(ms)), b),
                                  "end_to_end": _end_to_end(r, feeds, man, opts, rep, b)})
            peak, gpu = mem.growth_mb, r.gpu_peak_mb()
            accuracy = (_accuracy(r, spec, image, pp, opts.data, opts, target, rep, man)
                        if opts.data else None)
            probe = (_logits(r, spec, image, _probe_images(pp, opts.agreement),
                             image.static_batch or max(opts.batches), target)
                     if ropts.dtype is not Precision.FP32 or opts.agreement else None)
            return Measured(per_batch=per_batch, create_ms=float(r.create_ms), first_ms=first_ms,
                            peak_rss_mb=peak, rss_method=mem.method, gpu_peak_mb=gpu,
                            settings={**r.settings(), "timed_call": r.bound}, accuracy=accuracy,
                            macs=r.count_macs(feeds[image.name]), model=r.model_info(),
                            probe=probe)
        finally:
            r.__exit__(None, None, None)


def _end_to_end(r: RunnerBase, feeds: dict[str, np.ndarray], man: Manifest | None,
                opts: ProfileOptions, rep: Reporter, b: int) -> dict[str, Any] | None:
    """A YOLO detector's latency with its decode and NMS (``edgekit.e2e``); None otherwise."""
    task = tasks.recorded(man)
    return e2e.for_runner(r, feeds, task.name if task else None, opts.conf, rep, b,
                          warmup=opts.warmup, iterations=opts.iterations,
                          duration_s=opts.duration_s)


def _logits(r: RunnerBase, spec: list[TensorSpec], image: TensorSpec, x: np.ndarray, step: int,
            target: str, shape: list[list[int]] | None = None) -> np.ndarray:
    """The first output for every row of ``x``, in chunks of ``step`` (padded for a static
    batch), as rows; ``shape`` receives its shape as the runtime gave it."""
    out_name: list[str] = []

    def infer(chunk: np.ndarray) -> np.ndarray:
        out = r.infer({image.name: chunk.astype(image.dtype),
                       **_other_inputs(spec, image, len(chunk), target)})
        out_name[:] = out_name or [next(iter(out))]
        if shape is not None and not shape:
            shape.append(list(np.shape(out[out_name[0]])))
        return out[out_name[0]]

    return evaluate.predict_with(infer, x, step, pad=image.static_batch is not None)


def _accuracy(r: RunnerBase, spec: list[TensorSpec], image: TensorSpec, pp: Preprocess,
              data_dir: Path, opts: ProfileOptions, target: str, rep: Reporter,
              man: Manifest | None) -> dict[str, Any]:
    """Top-1 of a classifier, mAP of a detector (``tasks.detect_map``) on the labelled data."""
    task = tasks.recorded(man)
    if task is not None and task.spec.score_labels is not None:
        return _labelled(r, spec, image, pp, data_dir, opts, target, rep, task)
    with rep.stage("accuracy") as st:
        data = load_image_folder(data_dir, pp, opts.labels)
        step = image.static_batch or max(opts.batches)
        scores = classify.topk(_logits(r, spec, image, data.x, step, target), data.y)
        st["note"] = f"top-1 {scores['top1']:.2f}% on {len(data.y)} images"
    return {**scores, **data.to_dict(), "batch": step}


def _labelled(r: RunnerBase, spec: list[TensorSpec], image: TensorSpec, pp: Preprocess,
              data_dir: Path, opts: ProfileOptions, target: str, rep: Reporter,
              task: tasks.TaskInfo) -> dict[str, Any]:
    """A detector's mAP or a segmenter's mIoU on the labelled folder, by its task's row."""
    row = task.spec
    assert row.load_labels is not None and row.score_labels is not None and row.labelled

    def infer(x: np.ndarray) -> np.ndarray:
        out = r.infer({image.name: x.astype(image.dtype), **_other_inputs(spec, image, 1, target)})
        return np.asarray(next(iter(out.values())))

    with rep.stage("accuracy") as st:
        got = row.score_labels(row.load_labels(data_dir, opts.labels, task.names,
                                               opts.ignore_index), pp, infer)
        value = got.get(row.labelled.key)
        st["note"] = (f"{row.labelled.label} {value:.2f} % on {got['images']} images"
                      if value is not None else f"no {row.labelled.label}")
    return got


def _probe_images(pp: Preprocess, agreement: Path | None = None) -> np.ndarray:
    """What a variant is checked against FP32 on: the --agreement-data images, else the
    bundled photos and their mirror images."""
    if agreement is not None:
        return load_unlabelled(agreement, pp)
    x = photo_batch(pp, count=len(bundled_photos()))
    return np.ascontiguousarray(np.concatenate([x, mirrored(x, pp)]))


def _against_fp32(target: str, spec: BackendSpec, ropts: RunnerOptions, probe: np.ndarray | None,
                  opts: ProfileOptions, man: Manifest | None,
                  reference: Path | None = None) -> dict[str, Any]:
    """A result computed in a --dtype is verified like an INT8 or FP16 artifact: its outputs on
    the probe photos (or --agreement-data) against the same runtime's FP32 outputs; a variant
    artifact with --agreement-data, against its FP32 parent's on the same runtime."""
    ref_target = str(reference) if reference is not None else target
    with backends.runner(spec, ref_target, dataclasses.replace(ropts, dtype=Precision.FP32)) as r:
        ins = r.input_spec()
        image = _image_input(ins, opts.input_name, target)
        x = _probe_images(_preprocess(r, man, image, opts, None, target), opts.agreement)
        raw: list[list[int]] = []
        ref = _logits(r, ins, image, x, image.static_batch or max(opts.batches), target, raw)
    assert probe is not None  # _measure made it for a --dtype or --agreement-data run
    task = (tasks.recorded(man) or tasks.determine(outputs=raw)).name  # (the first output: runners)
    held = (f"--agreement-data {opts.agreement}" if opts.agreement is not None else
            "bundled photos and their mirror images")
    parent = man.lineage.parent if reference is not None and man is not None else None
    return {"reference": f"{spec.name} fp32" + (f" parent {reference}" if parent else ""),
            "reference_sha256": parent.sha256 if parent else None, "held_out": held,
            **tasks.record(task, tasks.compare(task, [ref], [probe]))}


def _check_task(man: Manifest | None, opts: ProfileOptions, target: str) -> None:
    """--data in the task's own format, checked now, not after the timing; one line for a
    task whose metric with labels is not there yet."""
    if opts.data is None:
        return
    if (task := tasks.recorded(man)) is not None and not task.spec.labels_ready:
        raise ConfigError(f"--data: no metric with labels for a {task.name} model yet "
                          f"({task.source})", "drop --data (it is checked against FP32 by SQNR)",
                          path=target)
    if task is not None and task.spec.load_labels is not None:
        task.spec.load_labels(opts.data, opts.labels, task.names, opts.ignore_index)
    else:
        scan_image_folder(opts.data, opts.labels)


def _claims(results: list[Result], store: Any) -> list[accuracy.Claim]:
    """Each result's verdict as every reader judges it, with its FP32 parent's stored results
    (where the store holds them) among the rows (``accuracy.claims_of``)."""
    from edgekit.store import Where

    dicts = [r.to_dict(samples=False) for r in results]
    keys = sorted({k for d in dicts if (k := accuracy.parent_key(d))})
    parents = [p for k in keys for p in (store.query([Where("artifact_sha256", "=", k)],
                                                     full=True) if store else [])]
    return accuracy.claims_of(dicts, parents)


def _tune(target: str, spec: BackendSpec, opts: ProfileOptions, man: Manifest | None
          ) -> tuple[RunnerOptions, dict[str, Any]]:
    """Search the settings the runner offers (``RunnerBase.tune_space``) with the profiled
    batch's feeds; the chosen record goes into the runner options."""
    from edgekit import tune

    r = backends.runner(spec, target, opts.runner)
    space = r.tune_space()
    if space is None:
        raise ConfigError(f"--backend {spec.name} has nothing to tune", "drop --tune")
    with r:
        ins = r.input_spec()
        image = _image_input(ins, opts.input_name, target)
        feeds = _feeds(ins, image, _preprocess(r, man, image, opts, None, target), opts.batches[0],
                       target)
    best, trials = tune.search(spec, target, opts.runner, space, feeds)
    return (dataclasses.replace(opts.runner, **{space.field: best}),
            {"chosen": best.to_dict(), "trials": trials})
