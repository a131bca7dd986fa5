"""edgekit sweep / quickstart / device: every variant stored or its failure recorded, --resume,
the report folder, and the device's peak estimate."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from support import FIX, digits_spec, run_cli

from edgekit import peak
from edgekit.errors import CalibrationError, ConfigError
from edgekit.store import Store
from edgekit.sweep import SweepOptions, sweep

TINY = f"{FIX / 'user_models.py'}:tiny"


def _opts(tmp: Path, **kw: object) -> SweepOptions:
    base: dict[str, object] = {"precisions": ("fp32", "fp16", "int8"), "input_size": 32,
                               "store": tmp / "results", "out": tmp / "report", "warmup": 2,
                               "iterations": 10}
    base.update(kw)
    return SweepOptions(**base)  # type: ignore[arg-type]


def test_two_models_three_precisions_six_rows_and_a_report(tmp_path: Path) -> None:
    rep = sweep([TINY, digits_spec()], _opts(tmp_path, backends=("ort",)))
    assert [v.status for v in rep.variants] == ["ok"] * 6, [v.error for v in rep.variants]
    rows = Store(tmp_path / "results").query()
    assert len(rows) == 6 and {r["precision"] for r in rows} == {"fp32", "fp16", "int8"}
    out = tmp_path / "report"
    for name in ("index.html", "results.csv", "results.json", "flops-vs-latency.png"):
        assert (out / name).stat().st_size > 0, name
    table = list(csv.DictReader((out / "results.csv").open()))
    assert len(table) == 6 and {(t["model"], t["precision"]) for t in table} == {
        (m, p) for m in (TINY, digits_spec()) for p in ("fp32", "fp16", "int8")}
    page = (out / "index.html").read_text()
    assert page.count("<tr>") == 7 and "data:image/png;base64," in page and "addEventListener" in page
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema"] == "edgekit.sweep/1" and doc["ok"] == 6 and doc["failed"] == 0
    assert all(t["p50_ms"] > 0 and t["agreement"] is not None for t in doc["table"])
    # no --data and no catalog weights: nothing measured, so no accuracy figure is claimed
    assert {(t["precision"], t["accuracy_kind"]) for t in doc["table"]} == {
        ("fp32", "none"), ("fp16", "agreement"), ("int8", "agreement")}
    assert all(t["accuracy"] is None for t in doc["table"]) and "lower_bound</b>" in page
    assert doc["peaks"]["cpu"]["peak_gflops"]
    # % peak only against the peak of the result's own precision, never above 100
    fp16 = doc["peaks"]["cpu"]["precisions"]["fp16"]["peak_gflops"]
    for t in doc["table"]:
        if t["precision"] == "fp16" and fp16 is None:  # no FP16 arithmetic on this CPU
            assert t["pct_of_peak"] is None and "no FP16 arithmetic" in t["pct_of_peak_note"]
        else:
            assert 0 < t["pct_of_peak"] <= 100 and t["pct_of_peak_note"] is None, t


def test_a_failing_variant_does_not_stop_the_others(tmp_path: Path) -> None:
    models = [f"{FIX / 'user_models.py'}:raises", f"{FIX / 'user_models.py'}:noisy", TINY]
    rep = sweep(models, _opts(tmp_path, precisions=("fp32", "int8"),
                              backends=("ort", "torch")))
    by = {(v.model.split(":")[-1], v.precision, v.backend): v for v in rep.variants}
    assert by[("raises", "fp32", "ort")].status == "export failed"
    assert "factory exploded" in (by[("raises", "int8", "ort")].error or "")
    assert by[("raises", "fp32", "torch")].status == "load failed"
    assert by[("noisy", "fp32", "ort")].status == "verify failed"
    assert by[("noisy", "fp32", "torch")].status == "ok"  # torch itself runs it fine
    assert by[("tiny", "int8", "torch")].status == "unsupported"
    assert by[("tiny", "fp32", "ort")].status == by[("tiny", "int8", "ort")].status == "ok"
    assert len(Store(tmp_path / "results").query()) == 4
    doc = json.loads((tmp_path / "report" / "results.json").read_text())
    assert doc["failed"] == 5 and len(doc["table"]) == 12


def test_the_default_sweep_runs_every_cpu_runtime_and_shows_the_picks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openvino")
    from edgekit import device

    real = device.cpu_info()
    monkeypatch.setattr(device, "cpu_info", lambda: {**real, "flags": ["avx2", "fma"]})
    rep = sweep([TINY], _opts(tmp_path, precisions=("fp32", "bf16", "int8")))
    by = {(v.backend, v.precision): v for v in rep.variants}
    assert set(by) == {("ort", "fp32"), ("ort", "int8"), ("openvino", "fp32"),
                       ("openvino", "bf16"), ("openvino", "int8")}  # ort runs no bf16: not listed
    assert by[("openvino", "bf16")].status == "unsupported"
    assert "no bf16 instructions" in (by[("openvino", "bf16")].error or "")
    assert all(v.status == "ok" for k, v in by.items() if k != ("openvino", "bf16"))
    doc = json.loads((tmp_path / "report" / "results.json").read_text())
    (m,) = doc["picks"]["models"]
    assert m["pick"]["precision"] == "fp32"  # no labels: INT8's bound on 14 photos is too wide
    assert [t["picked"] for t in doc["table"]].count("pick") == 1
    page = (tmp_path / "report" / "index.html").read_text()
    assert "<h2>Picks</h2>" in page and "FP32, the reference" in page


@pytest.mark.skipif(not __import__("edgekit.device").device.has_bf16(), reason="no bf16 CPU")
def test_a_bf16_variant_is_stored_as_bf16_with_its_check(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    rep = sweep([TINY], _opts(tmp_path, precisions=("bf16",), backends=("openvino",)))
    assert rep.variants[0].status == "ok", rep.variants[0].error
    (row,) = Store(tmp_path / "results").query(full=True)
    assert row["precision"] == "bf16" and row["result"]["settings"]["inference_precision"] == "bf16"
    assert row["result"]["settings"]["verification"]["images"] == 28


@pytest.mark.skipif(not __import__("edgekit.device").device.has_bf16(), reason="no bf16 CPU")
def test_int8_bf16_runs_the_int8_artifact_in_bf16_against_its_fp32_parent(tmp_path: Path
                                                                         ) -> None:
    pytest.importorskip("openvino")
    rep = sweep([TINY], _opts(tmp_path, precisions=("int8", "int8-bf16"), backends=("openvino",)))
    assert [v.status for v in rep.variants] == ["ok", "ok"], [v.error for v in rep.variants]
    assert rep.variants[0].artifact == rep.variants[1].artifact  # one INT8 ONNX, run two ways
    rows = {r["precision"]: r["result"] for r in Store(tmp_path / "results").query(full=True)}
    assert set(rows) == {"int8", "int8-bf16"}
    assert rows["int8-bf16"]["settings"]["inference_precision"] == "bf16"
    assert rows["int8"]["settings"]["inference_precision"] == "f32"
    ver = rows["int8-bf16"]["settings"]["verification"]
    assert ver["reference"].startswith("openvino fp32 parent") and ver["reference_sha256"]
    again = sweep([TINY], _opts(tmp_path, precisions=("int8", "int8-bf16"),
                                backends=("openvino",), resume=True))
    assert [v.status for v in again.variants] == ["resumed", "resumed"]


def test_resume_skips_what_is_stored(tmp_path: Path) -> None:
    first = sweep([TINY], _opts(tmp_path, backends=("ort",), precisions=("fp32", "int8")))
    again = sweep([TINY], _opts(tmp_path, backends=("ort",), precisions=("fp32", "int8", "fp16"),
                                resume=True))
    assert [v.status for v in again.variants] == ["resumed", "resumed", "ok"]
    assert [v.result_id for v in again.variants[:2]] == [v.result_id for v in first.variants]
    assert len(Store(tmp_path / "results").query()) == 3
    other = sweep([TINY], _opts(tmp_path, backends=("ort",), precisions=("fp32",), resume=True,
                                iterations=11))
    assert other.variants[0].status == "ok"  # other settings: measured again


@pytest.mark.parametrize("kw,error,message", [
    ({"precisions": ("fp64",)}, ConfigError, "unknown 'fp64'"),
    ({"calib": Path("nowhere")}, CalibrationError, "calibration data not found"),
    ({"data": Path("nowhere")}, CalibrationError, "data folder not found"),
])
def test_bad_options_fail_before_any_work(tmp_path: Path, kw: dict[str, object], error: type,
                                          message: str) -> None:
    kw = {k: (tmp_path / v if isinstance(v, Path) else v) for k, v in kw.items()}
    with pytest.raises(error, match=message):
        sweep([TINY], _opts(tmp_path, **kw))
    assert not (tmp_path / "report").exists() and not (tmp_path / "results").exists()


def test_cli_sweep_json_and_bad_input(tmp_path: Path) -> None:
    r = run_cli("sweep", TINY, "--input-size", "32", "--precisions", "fp32", "--duration", "0.1",
                "--store", str(tmp_path / "s"), "--out", str(tmp_path / "o"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "edgekit.sweep/1" and doc["variants"][0]["status"] == "ok"
    r = run_cli("sweep", TINY, "--precisions", "fp64", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown 'fp64'" in r.stderr
    r = run_cli("sweep", TINY, "--backends", "onnx", cwd=tmp_path)
    assert r.returncode == 2
    assert "unknown backend 'onnx'; backends: ort, torch, tensorrt, openvino" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o", "s"]


def test_exit_codes_nothing_measured_3_some_failed_0_or_3_under_strict(tmp_path: Path) -> None:
    """A run where nothing succeeded never exits 0; a partial one names what failed."""
    from typer.testing import CliRunner

    from edgekit import cli

    raises = f"{FIX / 'user_models.py'}:raises"
    base = ["--input-size", "32", "--backends", "ort", "--duration", "0", "--store",
            str(tmp_path / "s"), "--out", str(tmp_path / "o"), "--quiet"]
    r = CliRunner().invoke(cli.app, ["sweep", raises, "--precisions", "fp32,int8", *base,
                                     "--json"])
    assert r.exit_code == 3, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] == 0 and doc["failed"] == 2 and doc["exit_code"] == 3
    assert [v["status"] for v in doc["variants"]] == ["export failed"] * 2
    assert all("factory exploded" in v["error"] for v in doc["variants"])
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "nothing was measured: 2 failed" in err[0] and "raises" in err[0]
    mixed = ["sweep", raises, TINY, "--precisions", "fp32", *base]
    r = CliRunner().invoke(cli.app, mixed)
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "1 of 2 variants failed" in warn[0] and "raises fp32/ort" in warn[0]
    assert "tiny" not in warn[0].split("failed:")[1]
    r = CliRunner().invoke(cli.app, [*mixed, "--strict"])
    assert r.exit_code == 3 and "1 of 2 variants failed" in r.stderr
    r = CliRunner().invoke(cli.app, ["--help"])
    assert "Exit codes: 0 " in r.output and "3 nothing measured" in r.output


def test_quickstart_exits_3_when_nothing_is_measured(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from edgekit import cli
    from edgekit.cli import run as cli_run

    monkeypatch.setattr(cli_run, "QUICKSTART", (f"{FIX / 'user_models.py'}:raises",))
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli.app, ["quickstart", "--quiet"])
    assert r.exit_code == 3 and "error: nothing was measured" in r.stderr


@pytest.mark.slow
def test_quickstart_runs_its_models_and_says_where_the_report_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from edgekit import cli
    from edgekit.cli import run as cli_run

    monkeypatch.setattr(cli_run, "QUICKSTART", (TINY,))
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli.app, ["quickstart", "--quiet"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "report/index.html" in r.output and "published" in r.output
    rows = Store(tmp_path / "results").query()
    assert {r["precision"] for r in rows} == {"fp32", "int8"} and {r["tag"] for r in rows} == {
        "quickstart"}


def test_cpu_peak_from_flags() -> None:
    p = peak.cpu_peak({"flags": ["avx", "avx2", "fma"], "physical_cores": 4})
    assert p["flops_per_cycle"] == 32 and p["simd"] == "AVX2+FMA"
    if p["mhz"]:
        assert p["peak_gflops"] == pytest.approx(4 * p["mhz"] / 1000 * 32, rel=1e-3)
    assert peak.cpu_peak({"flags": ["asimd"], "physical_cores": 8})["flops_per_cycle"] == 16
    assert peak.cpu_peak({"flags": [], "logical_cores": 2})["simd"] == "SSE"


def test_gpu_table_and_percent_of_peak() -> None:
    h100 = peak.gpu_peak("NVIDIA H100 80GB HBM3")
    assert h100 is not None and h100["peak_gflops"] == 67000 and "datasheet" in h100["source"]
    assert peak.gpu_peak("NVIDIA Jetson Orin Nano Developer Kit")["match"] == "Orin Nano"  # type: ignore[index]
    assert peak.gpu_peak("Some Other GPU") is None
    cpu = {"precisions": dict(peak.precision_rates({"avx512f", "avx512_vnni"}, 64, "AVX-512"))}
    cpu["precisions"] = {p: {"peak_gflops": None if ops is None else ops * 2.0, "unit": u}
                         for p, (ops, u) in cpu["precisions"].items()}  # 1 core x 2 GHz
    peaks = {"cpu": cpu, "gpus": [h100]}
    assert peak.percent_of_peak(64.0, "cpu", peaks) == (50.0, None)  # 128 GFLOP/s FP32
    assert peak.percent_of_peak(64.0, "cpu", peaks, "int8") == (12.5, None)  # VNNI: 4x FP32
    pct, why = peak.percent_of_peak(64.0, "cpu", peaks, "bf16")  # no BF16 units: no peak
    assert pct is None and "no BF16 arithmetic" in str(why)
    # FP32 on an H100 may run on TF32 tensor cores: its limit is theirs, not the CUDA cores'
    assert peak.percent_of_peak(98940.0, "cuda", peaks) == (20.0, None)
    assert peak.percent_of_peak(98940.0, "cuda", peaks, "fp16") == (10.0, None)
    orin = {"cpu": cpu, "gpus": [peak.gpu_peak("Jetson AGX Orin")]}
    assert peak.percent_of_peak(100.0, "cuda", orin)[0] is None  # its TF32 peak is unknown
    assert peak.percent_of_peak(None, "cpu", peaks)[0] is None
    pct, why = peak.percent_of_peak(200.0, "cpu", peaks)  # over 100 %: never printed
    assert pct is None and "impossible" in str(why)


def test_no_percent_of_peak_above_100_on_an_amx_cpu() -> None:
    """The issue's case: OpenVINO bf16 on an AMX CPU showed 532 % of the FP32 AVX-512 peak.
    Against each precision's own units (AMX-BF16: 1024 FLOPs/cycle/core, AMX-INT8: 2048) the
    same figures are well under 100 %."""
    flags = ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_bf16",
             "amx_int8", "amx_tile"]
    cpu = peak.cpu_peak({"flags": flags, "physical_cores": 2})
    if cpu["peak_gflops"] is None:
        pytest.skip("this machine does not say its CPU frequency")
    rates = cpu["precisions"]
    assert rates["bf16"]["unit"] == "AMX-BF16 tiles" and rates["bf16"]["ops_per_cycle"] == 1024
    assert rates["int8"]["ops_per_cycle"] == 2048 and rates["fp16"]["peak_gflops"] is None
    peaks = {"cpu": cpu, "gpus": []}
    fp32_peak = cpu["peak_gflops"]
    measured = {"fp32": 0.9 * fp32_peak, "bf16": 5.321 * fp32_peak, "int8": 7.0 * fp32_peak}
    for prec, gflops in measured.items():
        pct, why = peak.percent_of_peak(gflops, "cpu", peaks, prec)
        assert pct is not None and 0 < pct <= 100, (prec, pct, why)
    assert peak.percent_of_peak(measured["bf16"], "cpu", peaks, "bf16")[0] == pytest.approx(
        532.1 / 16, abs=0.1)


def test_cli_device(tmp_path: Path) -> None:
    r = run_cli("device", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "edgekit.device/1" and doc["peak"]["cpu"]["bandwidth_gbs"] > 0
    r = run_cli("device", "--no-bandwidth", env={"COLUMNS": "200"})
    assert r.returncode == 0 and re.search(r"CPU peak\W+[\d.]+ GFLOP/s", r.stdout)


def test_the_readme_exit_code_table_is_the_one_in_errors() -> None:
    from edgekit.errors import EXIT_CODES

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    readme = readme.split("**Exit codes**")[1].split("\n\n")[1]
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", readme, re.M))
    assert sorted(int(c) for c in table) == sorted(c for c, _ in EXIT_CODES)


def test_a_non_square_input_size_reaches_every_artifact_and_runner(tmp_path: Path) -> None:
    from edgekit import manifest

    r = run_cli("sweep", TINY, "--input-size", "48,32", "--precisions", "fp32,int8",
                "--backends", "ort,torch", "--duration", "0", "--store", str(tmp_path / "s"),
                "--out", str(tmp_path / "o"), "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    for v in doc["variants"]:
        if v["backend"] == "ort":
            man = manifest.read(Path(v["artifact"]))
            assert man.input is not None and man.input.shape[2:] == [48, 32], v
    assert {v["status"] for v in doc["variants"] if v["backend"] != "torch" or
            v["precision"] == "fp32"} == {"ok"}
    # TinyNet at 48x32: conv 3->8 at 48x32, conv 8->16 stride 2 at 24x16, fc 16->10
    macs = round((48 * 32 * 8 * 27 + 24 * 16 * 16 * 72 + 16 * 10) / 1e9, 4)
    rows = Store(tmp_path / "s").query()
    assert {r["backend"] for r in rows} == {"ort", "torch"}
    assert {r["gmacs"] for r in rows} == {macs}  # the torch runner built it at 48x32 too
