"""edgekit profile: figures that are consistent with each other, accuracy that matches torch,
the store row, --tune, and requests refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import FIX, digits_spec, run_cli, tiny_onnx

from edgekit import profile as pf
from edgekit import result
from edgekit.backends import RunnerOptions
from edgekit.errors import CalibrationError, ConfigError, SourceError
from edgekit.export import ExportOptions, export
from edgekit.sources import Options
from edgekit.store import Store

TORCH_SRC = Options(weights=FIX / "digits_cnn.pth")


def _opts(**kw: object) -> pf.ProfileOptions:
    base: dict[str, object] = {"warmup": 2, "iterations": 20}
    base.update(kw)
    return pf.ProfileOptions(**base)  # type: ignore[arg-type]


def test_ort_profile_figures_are_consistent(digits: dict[str, Path], tmp_path: Path) -> None:
    rep = pf.profile(str(digits["digits_cnn_plain"]), _opts(batches=(1, 4), store=tmp_path / "r"))
    assert [r.batch for r in rep.results] == [1, 4]
    for r in rep.results:
        lat = r.latency
        assert lat["n"] == 20 == len(r.samples_ms)
        assert (lat["min_ms"] <= lat["p50_ms"] <= lat["p90_ms"] <= lat["p95_ms"] <= lat["p99_ms"]
                <= lat["max_ms"])
        assert lat["images_per_s"] == pytest.approx(r.batch * 1000 / lat["mean_ms"], rel=1e-3)
        assert lat["session_create_ms"] > 0 and lat["first_infer_ms"] > 0
        assert lat["split_ms"] is None  # CPU
        assert r.gflops == pytest.approx(2 * r.model["gmacs"] * r.batch / (lat["p50_ms"] / 1e3),
                                         rel=1e-2)
        assert r.model["name"] == "digits_model:digits_cnn_plain" and r.model["precision"] == "fp32"
        assert r.artifact["sha256"] and r.artifact["size_mb"] > 0
        assert r.memory["peak_rss_growth_mb"] >= 0 and r.memory["rss_method"]
        assert r.device_info["cpu"]["flags"] is not None and "onnxruntime" in r.device_info["versions"]
        assert r.settings["providers"] == ["CPUExecutionProvider"] and r.id is not None
        assert "bound once before the loop" in r.settings["timed_call"]  # how it was bound
    assert rep.results[0].settings_key != rep.results[1].settings_key  # batch is part of it
    rows = Store(tmp_path / "r").query(full=True)
    assert len(rows) == 2 and rows[0]["result"]["latency"]["p50_ms"] == rep.results[1].latency["p50_ms"]


def test_same_settings_give_the_same_settings_key(digits: dict[str, Path]) -> None:
    a = pf.profile(str(digits["digits_cnn_plain"]), _opts()).results[0]
    b = pf.profile(str(digits["digits_cnn_plain"]), _opts()).results[0]
    c = pf.profile(str(digits["digits_cnn_plain"]),
                   _opts(runner=RunnerOptions(threads=1))).results[0]
    assert a.settings_key == b.settings_key != c.settings_key


def test_ort_accuracy_equals_torch_eval_accuracy(digits: dict[str, Path]) -> None:
    ort = pf.profile(str(digits["digits_cnn_plain"]), _opts(data=digits["test"], batches=(8,)))
    pt = pf.profile(digits_spec(), _opts(data=digits["test"], batches=(8,),
                                         runner=RunnerOptions(source=TORCH_SRC)))
    a, b = ort.results[0].accuracy, pt.results[0].accuracy
    assert a is not None and b is not None
    assert a["images"] == b["images"] == 450 and a["classes"] == 10
    assert a["top1"] == b["top1"] >= 90.0 and a["top5"] == b["top5"]
    assert pt.results[0].backend == "torch" and pt.results[0].model["precision"] == "fp32"
    assert pt.results[0].model["gmacs"] == ort.results[0].model["gmacs"]  # hooks vs ONNX graph


def test_static_batch_is_refused_before_any_work(tmp_path: Path) -> None:
    res = export(digits_spec(), ExportOptions(output=tmp_path / "s.onnx", batch=1),
                 Options(weights=FIX / "digits_cnn.pth"))
    with pytest.raises(ConfigError, match="static batch of 1; it cannot run batch 8"):
        pf.profile(str(res.path), _opts(batches=(1, 8), store=tmp_path / "store"))
    assert not (tmp_path / "store").exists()  # refused before the store was even opened
    ok = pf.profile(str(res.path), _opts(batches=(1,)))
    assert ok.results[0].batch == 1


def test_static_batch_without_a_manifest_is_refused_before_timing(tmp_path: Path) -> None:
    res = export(digits_spec(), ExportOptions(output=tmp_path / "s.onnx", batch=2),
                 Options(weights=FIX / "digits_cnn.pth"))
    (tmp_path / "s.onnx.json").unlink()
    with pytest.raises(ConfigError, match="static batch of 2"):
        pf.profile(str(res.path), _opts(batches=(4,)))


def test_a_two_input_model_needs_input(tmp_path: Path) -> None:
    m = tiny_onnx.write_two_inputs(tmp_path / "two.onnx")
    with pytest.raises(ConfigError, match="has 2 inputs .*--input NAME"):
        pf.profile(str(m), _opts())
    with pytest.raises(ConfigError, match="no input 'img'"):
        pf.profile(str(m), _opts(input_name="img"))
    r = pf.profile(str(m), _opts(input_name="image", batches=(2,))).results[0]
    assert r.batch == 2 and r.latency["n"] == 20


def test_accuracy_of_a_two_input_model_fills_the_other_input(digits: dict[str, Path],
                                                             tmp_path: Path) -> None:
    import shutil

    m = tiny_onnx.write_two_inputs(tmp_path / "two.onnx")  # 8x8 images, output = image + bias
    data = tmp_path / "data" / "a"
    data.mkdir(parents=True)
    for p in sorted(digits["test"].glob("*/*.png"))[:3]:
        shutil.copy(p, data / p.name)
    r = pf.profile(str(m), _opts(input_name="image", batches=(2,), data=data.parent)).results[0]
    assert r.accuracy is not None and r.accuracy["images"] == 3


@pytest.mark.slow
def test_tune_records_its_trials_and_uses_the_fastest(digits: dict[str, Path]) -> None:
    r = pf.profile(str(digits["digits_cnn_plain"]), _opts(tune=True)).results[0]
    tune = r.settings["tune"]
    assert len(tune["trials"]) >= 5
    keys = ("intra_threads", "execution_mode", "graph_optimization")
    chosen = next(t for t in tune["trials"] if {k: t[k] for k in keys} == tune["chosen"])
    assert chosen["p50_ms"] == min(t["p50_ms"] for t in tune["trials"])  # ties: either
    assert r.settings["intra_threads"] == tune["chosen"]["intra_threads"]


def test_tune_is_for_rows_that_offer_it() -> None:
    with pytest.raises(ConfigError, match="--tune applies to --backend ort and openvino only"):
        pf.profile(digits_spec(), _opts(tune=True, backend="torch"))


def test_long_runs_keep_a_thinned_sample_list() -> None:
    ms = np.arange(12_000, dtype=float)
    kept = result.thin(ms)
    assert len(kept) <= result.MAX_SAMPLES_KEPT and kept[:2] == [0.0, 3.0]


@pytest.mark.parametrize("target,kw,error,message", [
    ("missing.onnx", {}, SourceError, "file not found"),
    ("empty.onnx", {}, SourceError, "file is empty"),
    ("m.engine", {}, ConfigError, "does not run on --device cpu"),
    ("ok.onnx", {"batches": (0,)}, ConfigError, "positive sizes"),
    ("ok.onnx", {"labels": Path("l.txt")}, ConfigError, "--labels needs --data"),
    ("ok.onnx", {"data": Path("nowhere")}, CalibrationError, "data folder not found"),
    ("ok.onnx", {"backend": "torch"}, ConfigError, "takes a model spec"),
])
def test_bad_requests_are_one_line_errors(tmp_path: Path, digits: dict[str, Path], target: str,
                                          kw: dict[str, object], error: type, message: str) -> None:
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "m.engine").write_bytes(b"x")
    (tmp_path / "ok.onnx").write_bytes(digits["digits_cnn_plain"].read_bytes())
    kw = {k: (tmp_path / v if isinstance(v, Path) else v) for k, v in kw.items()}
    with pytest.raises(error, match=message) as e:
        pf.profile(str(tmp_path / target), _opts(**kw))
    assert "\n" not in e.value.line()


# --- the command line -------------------------------------------------------------------------

def test_cli_profile_json_stores_and_results_lists_it(digits: dict[str, Path],
                                                      tmp_path: Path) -> None:
    store = tmp_path / "results"
    r = run_cli("profile", str(digits["digits_cnn_plain"]), "--iterations", "15", "--warmup", "2",
                "--data", str(digits["test"]), "--store", str(store), "--tag", "ci", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "edgekit.profile/1" and doc["results"][0]["schema"] == "edgekit.result/1"
    assert doc["results"][0]["accuracy"]["top1"] >= 90 and "samples_ms" not in doc["results"][0]
    r = run_cli("results", "--store", str(store), "--where", "tag=ci", "--json")
    rows = json.loads(r.stdout)["results"]
    assert r.returncode == 0 and len(rows) == 1 and rows[0]["id"] == doc["results"][0]["id"]
    r = run_cli("results", "--store", str(store), "--csv")
    assert r.returncode == 0 and r.stdout.splitlines()[0].startswith("id,created,tag,model")
    r = run_cli("results", "--store", str(store), env={"COLUMNS": "200"})
    assert r.returncode == 0 and "digits_model" in r.stdout


def test_cli_profile_table_names_what_was_measured(digits: dict[str, Path], tmp_path: Path) -> None:
    r = run_cli("profile", str(digits["digits_cnn_plain"]), "--iterations", "10", "--batch", "1,2",
                "--no-store", env={"COLUMNS": "160"}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for text in ("p50", "p99", "images/s", "peak RSS", "first inference", "not stored"):
        assert text in r.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("args,message", [
    (["profile", "{m}", "--data", "{tmp}/nowhere"], "data folder not found"),
    (["profile", "{m}", "--data", "{tmp}/empty"], "has no class subfolders"),
    (["profile", "{m}", "--data", "{tmp}/flat"], "has no class subfolders"),
    (["profile", "{tmp}/two.onnx"], "name the image input with --input NAME"),
    (["profile", "{m}", "--batch", "0"], "positive batch sizes"),
    (["profile", "{m}", "--batch", "x"], "not a list of batch sizes"),
    (["profile", "{static}", "--batch", "4"], "static batch of 1"),
    (["profile", "{m}", "--iterations", "5", "--duration", "1"], "conflict"),
    (["profile", "{m}", "--store", "{tmp}/pngstore"], "not a usable SQLite database"),
    (["profile", "{m}", "--store", "{tmp}/flat/a.png/sub"], "a file is in the way"),
    (["results", "--store", "{tmp}/none"], "no results store here"),
    (["results", "--store", "{tmp}/r", "--where", "modle=x"], "did you mean model"),
    (["results", "--store", "{tmp}/r", "--csv", "--json"], "conflict"),
])
def test_cli_bad_input_is_one_line_exit_2(args: list[str], message: str, digits: dict[str, Path],
                                          tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (tmp_path / "pngstore").mkdir()
    (tmp_path / "pngstore" / "edgekit.db").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    tiny_onnx.write_two_inputs(tmp_path / "two.onnx")
    Store(tmp_path / "r")
    static = export(digits_spec(), ExportOptions(output=tmp_path / "st.onnx", batch=1), TORCH_SRC).path
    fill = {"m": str(digits["digits_cnn_plain"]), "tmp": str(tmp_path), "static": str(static)}
    before = sorted(p.name for p in tmp_path.rglob("*"))
    r = run_cli(*[a.format(**fill) for a in args], cwd=tmp_path)  # the default store: cwd
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing new left behind


def test_four_concurrent_profilers_into_one_store_lose_no_rows(digits: dict[str, Path],
                                                               tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    store = tmp_path / "shared"
    cmd = [sys.executable, "-m", "edgekit", "profile", str(digits["digits_cnn_plain"]),
           "--iterations", "5", "--warmup", "1", "--batch", "1,2,3", "--store", str(store),
           "--json"]
    procs = [subprocess.Popen([*cmd, "--tag", f"p{i}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"}) for i in range(4)]
    docs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        docs.append(json.loads(out))
    reported = {r["id"] for d in docs for r in d["results"]}
    s = Store(store)
    rows = s.query()
    assert len(reported) == 12 and {r["id"] for r in rows} == reported
    assert sorted(r["tag"] for r in rows) == sorted(f"p{i}" for i in range(4) for _ in range(3))
    assert s.integrity() == "ok"


def test_a_manifest_of_another_file_is_refused(digits: dict[str, Path], tmp_path: Path) -> None:
    m = tmp_path / "m.onnx"
    m.write_bytes(digits["digits_cnn_plain"].read_bytes())
    (tmp_path / "m.onnx.json").write_bytes(Path(str(digits["digits_cnn"]) + ".json").read_bytes())
    with pytest.raises(ConfigError, match="manifest describes another file") as e:
        pf.profile(str(m), _opts())
    assert "delete m.onnx.json" in e.value.line()
    from edgekit.quantize import QuantOptions, quantize

    with pytest.raises(ConfigError, match="manifest describes another file"):
        quantize(m, QuantOptions(output=tmp_path / "q.onnx", calib_size=4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]
