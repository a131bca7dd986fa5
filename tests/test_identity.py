"""One measurement identity (edgekit.identity) and provenance (edgekit.provenance): stored keys
stay valid, a reproduce command re-profiles to the same key, lab --resume tells a bf16 variant
from its FP32 row, a series over time, commits from CI and git (and none, without failing), a
store written before all this still reads, and both stores carry the new fields."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from support import FIX, run_cli

from edgekit import identity, provenance
from edgekit import profile as pf
from edgekit.backends import RunnerOptions
from edgekit.identity import RunSettings, newest_per_variant
from edgekit.precision import Precision
from edgekit.reproduce import profile_command
from edgekit.store import Store, open_store

OLD_STORE = FIX / "store_v1" / "store.db"  # written by edgekit at 7565098, before identity


def _profile(path: Path, store: Path | str | None = None, **runner: object) -> dict:
    opts = pf.ProfileOptions(runner=RunnerOptions(**runner), warmup=2, iterations=5,  # type: ignore[arg-type]
                             store=store)
    return pf.profile(str(path), opts).results[0].to_dict()


def test_the_keys_stored_before_the_record_existed_are_the_keys_computed_now(
        tmp_path: Path) -> None:
    shutil.copy(OLD_STORE, tmp_path / "old.db")
    rows = {r["id"]: r for r in open_store(f"sqlite:///{tmp_path / 'old.db'}").query(full=True)}
    ort = RunSettings(backend="ort", device_name=rows[1]["device_name"], iterations=20,
                      duration_s=None)
    assert ort.key() == rows[1]["settings_key"] == rows[2]["settings_key"]
    ov = RunSettings(backend="openvino", device_name=rows[3]["device_name"], threads=1,
                     iterations=20, duration_s=None)
    assert ov.key() == rows[3]["settings_key"]
    assert RunSettings(backend="ort", device_name="x", power_mode="15W").key() != \
        RunSettings(backend="ort", device_name="x").key()  # a later field counts once set


def test_an_old_store_reads_with_the_new_fields_unknown_and_takes_new_rows(
        tmp_path: Path, digits: dict[str, Path]) -> None:
    shutil.copy(OLD_STORE, tmp_path / "old.db")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    r = run_cli("results", "--store", url, "--json")
    assert r.returncode == 0, r.stderr
    old = json.loads(r.stdout)["results"]
    assert len(old) == 3 and all(o["git_commit"] is None and o["provenance"] is None
                                 and o["run"] is None for o in old)
    assert {o["series"]["model"] for o in old} == {"digits_model:digits_cnn_plain"}
    assert all(o["series"]["scope"] is None for o in old)
    new = _profile(digits["digits_cnn_plain"], store=url)
    rows = open_store(url).query(full=True)
    assert len(rows) == 4 and rows[0]["series_key"] == new["series"]["key"]
    assert rows[0]["git_commit"] == new["provenance"]["commit"]
    r = run_cli("pick", url, "--json")
    assert r.returncode == 0, r.stderr


def test_a_reproduce_command_profiles_to_the_same_key(digits: dict[str, Path],
                                                      tmp_path: Path) -> None:
    store = tmp_path / "r"
    opts = pf.ProfileOptions(runner=RunnerOptions(threads=1), warmup=3, iterations=7,
                             input_name="input", store=store)
    pf.profile(str(digits["digits_cnn_plain"]), opts)
    (row,) = Store(store).query(full=True)
    line = profile_command(row)
    for flag in ("--threads 1", "--warmup 3", "--iterations 7", "--input input"):
        assert flag in line  # dropped before: --input, --provider
    args = shlex.split(line)[2:]
    r = run_cli("profile", *args, "--store", str(store), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["settings_key"] == row["settings_key"]
    run = RunSettings.of_row(row)
    assert run is not None and run.bound and run.input_shapes == {"input": [1, 3, 32, 32]}
    cpu = RunSettings.from_dict({**run.to_dict(), "provider": "cpu", "compile": True})
    assert "--provider cpu" in " ".join(cpu.profile_args())
    assert "--compile" in cpu.profile_args() and cpu.key() != run.key()


@pytest.mark.parametrize("precision", ["bf16", "int8-bf16"])
def test_lab_resume_never_matches_a_bf16_variant_to_its_fp32_row(digits: dict[str, Path],
                                                                  precision: str) -> None:
    from edgekit.lab_job import matches
    from edgekit.store import flatten

    res = _profile(digits["digits_cnn_plain"])
    row = {**flatten(res), "id": 1, "result": res}
    same = pf.ProfileOptions(backend="ort", warmup=2, iterations=5)
    assert matches(row, same)
    _, dtype = Precision(precision).parts() if precision != "bf16" else (None, Precision.BF16)
    low = pf.ProfileOptions(backend="ort", runner=RunnerOptions(dtype=dtype), warmup=2,
                            iterations=5)
    assert not matches(row, low)
    other = pf.ProfileOptions(backend="ort", warmup=2, iterations=6)
    assert not matches(row, other)


def test_newest_per_variant_and_the_device_filter() -> None:
    rows = [{"id": i, "artifact_sha256": sha, "artifact": "a", "settings_key": key,
             "device_name": dev, "device": "cpu"}
            for i, (sha, key, dev) in enumerate([("a", "k1", "AMD EPYC"), ("a", "k1", "AMD EPYC"),
                                                 ("a", "k2", "Xeon"), ("b", "k1", "Xeon")], 1)]
    assert [r["id"] for r in newest_per_variant(rows)] == [4, 3, 2]
    assert [r["id"] for r in rows if identity.device_matches(r, "*EPYC*")] == [1, 2]
    assert all(identity.device_matches(r, "cpu") for r in rows)
    assert all(identity.device_matches(r, None) for r in rows)
    assert not identity.device_matches(rows[0], "*epyc*")  # case-sensitive, as budgets were


def test_a_series_is_the_same_over_runs_and_differs_by_what_it_measures(
        digits: dict[str, Path], digits_int8: dict[str, Path]) -> None:
    a = _profile(digits["digits_cnn_plain"])
    b = _profile(digits["digits_cnn_plain"], threads=1)
    c = _profile(digits_int8["digits_cnn_plain"])
    assert a["series"]["key"] == b["series"]["key"]  # settings change, the series does not
    assert c["series"]["key"] != a["series"]["key"]
    s = a["series"]
    assert s["model"] and s["precision"] == "fp32" and s["backend"] == "ort"
    assert s["runtime"].startswith("onnxruntime ") and s["scope"] == "network"
    assert s["input_shape"] == [1, 3, 32, 32] and s["lineage"][0].endswith(":digits_cnn_plain")
    assert c["series"]["lineage"][-1].startswith("onnx int8")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


def test_provenance_from_git_ci_the_override_and_nowhere(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "feature")
    (repo / "m.onnx").write_bytes(b"x")
    _git(repo, "add", "m.onnx")
    _git(repo, "commit", "-qm", "m")
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    p = provenance.collect(repo / "m.onnx", env={}, cwd=tmp_path)
    assert (p["commit"], p["branch"], p["dirty"], p["source"]) == (sha, "feature", False, "git")
    assert p["commit_time"]
    (repo / "m.onnx").write_bytes(b"y")
    assert provenance.collect(repo / "m.onnx", env={}, cwd=tmp_path)["dirty"] is True
    gh = {"GITHUB_SHA": "abc123", "GITHUB_REF_NAME": "main", "GITHUB_SERVER_URL":
          "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"}
    p = provenance.collect(tmp_path / "none.onnx", env=gh, cwd=tmp_path)
    assert (p["commit"], p["branch"], p["ci"], p["source"]) == ("abc123", "main", "github", "ci")
    assert p["ci_url"] == "https://github.com/o/r/actions/runs/7"
    gl = {"CI_COMMIT_SHA": "def", "CI_COMMIT_BRANCH": "dev", "CI_JOB_URL": "https://gl/j/1"}
    assert provenance.from_ci(gl) == {"commit": "def", "branch": "dev", "ci": "gitlab",
                                      "ci_url": "https://gl/j/1"}
    over = provenance.collect(repo / "m.onnx", commit=sha[:8], env={}, cwd=tmp_path)
    assert over["commit"] == sha and over["branch"] == "feature"  # the same commit, in full
    other = provenance.collect(repo / "m.onnx", commit="0123abc", env={}, cwd=tmp_path)
    assert (other["commit"], other["branch"], other["source"]) == ("0123abc", None, "override")
    nowhere = provenance.collect(tmp_path / "none.onnx", env={}, cwd=tmp_path)
    assert nowhere == provenance.UNKNOWN  # outside any repository: it says so


def test_no_git_on_the_path_fails_nothing(digits: dict[str, Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    for k in ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "CIRCLE_SHA1",
              "BUILD_SOURCEVERSION", "GIT_COMMIT"):
        monkeypatch.delenv(k, raising=False)
    res = _profile(digits["digits_cnn_plain"], store=tmp_path / "r")
    assert res["provenance"]["source"] == "none" and res["provenance"]["commit"] is None
    assert res["provenance"]["versions"]["onnxruntime"]


def test_results_filter_by_commit_and_branch(digits: dict[str, Path], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "r"
    for sha, branch in (("aaa111", "main"), ("bbb222", "feature")):
        monkeypatch.setenv("GITHUB_SHA", sha)
        monkeypatch.setenv("GITHUB_REF_NAME", branch)
        _profile(digits["digits_cnn_plain"], store=store)
    r = run_cli("results", "--store", str(store), "--commit", "aaa", "--json")
    (row,) = json.loads(r.stdout)["results"]
    assert row["git_commit"] == "aaa111" and row["provenance"]["ci"] == "github"
    assert row["run"]["backend"] == "ort" and row["series"]["key"] == row["series_key"]
    r = run_cli("results", "--store", str(store), "--branch", "feature", "--json")
    assert [x["git_branch"] for x in json.loads(r.stdout)["results"]] == ["feature"]


def test_postgresql_rows_carry_run_series_and_provenance(pg_url: str, digits: dict[str, Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SHA", "ccc333")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    res = _profile(digits["digits_cnn_plain"], store=pg_url)
    (row,) = open_store(pg_url).query(full=True)
    assert (row["git_commit"], row["git_branch"]) == ("ccc333", "main")
    assert row["series_key"] == res["series"]["key"] and row["result"]["run"]["backend"] == "ort"
    assert row["settings_key"] == RunSettings.of_row(row).key()  # type: ignore[union-attr]
