"""Pretrained weights by default (issue 13): the real download-and-cache paths, against a
weights server on 127.0.0.1 (torch.hub for torchvision, huggingface_hub via HF_ENDPOINT for
timm); a corrupted download refused by its hash; the offline error line; ``--random-weights``;
the one notice of ``quickstart`` and ``sweep --allow-random``; ``published`` only for the
catalog entry's exact weights.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchvision.models as tvm
from support import FIX

from edgekit import graph, manifest
from edgekit.cli import main
from edgekit.export import ExportOptions, export
from edgekit.images import photo_batch
from edgekit.sources import Options, Source, resolve
from edgekit.weights import WeightsRecord

_CONNECT, _CREATE = socket.socket.connect, socket.create_connection  # before `offline` patches
_LOOPBACK = ("127.0.0.1", "localhost")
SQUEEZE = tvm.SqueezeNet1_1_Weights.IMAGENET1K_V1  # the catalog entry's exact weights
HF_REPO = "timm/test_efficientnet.r160_in1k"


class _Server:
    """Files served on 127.0.0.1 (GET and HEAD), with per-file headers; counts GETs."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.gets: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _head(self) -> bytes | None:
                hit = owner.files.get(self.path)
                if hit is None:
                    self.send_error(404)
                    return None
                self.send_response(200)
                for k, v in {"Content-Length": str(len(hit[0])), **hit[1]}.items():
                    self.send_header(k, v)
                self.end_headers()
                return hit[0]

            def do_HEAD(self) -> None:  # noqa: N802 (http.server's spelling)
                self._head()

            def do_GET(self) -> None:  # noqa: N802
                owner.gets.append(self.path)
                body = self._head()
                if body is not None:
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[_Server]:
    """A weights server on 127.0.0.1; connects to loopback allowed, every other one still
    refused; an empty torch hub cache of this test's own."""
    def connect(sock: socket.socket, address: Any) -> Any:
        if not (isinstance(address, tuple) and address[0] in _LOOPBACK):
            raise OSError("tests are offline: edgekit must not open network connections")
        return _CONNECT(sock, address)

    def create_connection(address: Any, *a: Any, **kw: Any) -> Any:
        if address[0] not in _LOOPBACK:
            raise OSError("tests are offline: edgekit must not open network connections")
        return _CREATE(address, *a, **kw)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    s = _Server()
    yield s
    s.close()


def _state_dict_bytes(model: torch.nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def _serve_squeezenet(server: _Server, monkeypatch: pytest.MonkeyPatch, body: bytes,
                      named_for: bytes | None = None) -> str:
    """Serve ``body`` as ``squeezenet1_1-<sha256[:8] of named_for or body>.pth`` and point the
    enum's URL at it (torchvision's Weights value is a plain dataclass)."""
    name = f"squeezenet1_1-{hashlib.sha256(named_for or body).hexdigest()[:8]}.pth"
    server.files[f"/{name}"] = (body, {})
    monkeypatch.setattr(SQUEEZE.value, "url", f"{server.url}/{name}")
    return name


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit, match=r"^\d*$|^None$") as e:
        main([*args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def test_torchvision_weights_download_into_the_hub_cache_and_are_recorded(
        server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    torch.manual_seed(1)
    ref = tvm.squeezenet1_1().eval()
    body = _state_dict_bytes(ref)
    name = _serve_squeezenet(server, monkeypatch, body)
    res = export("squeezenet1_1", ExportOptions(output=tmp_path / "a.onnx", input_size=(64, 64)))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / name
    sha = hashlib.sha256(body).hexdigest()
    assert cached.read_bytes() == body and server.gets == [f"/{name}"]
    rec = res.manifest.lineage.source["weights_record"]  # type: ignore[index]
    assert rec["kind"] == "pretrained" and rec["name"] == "SqueezeNet1_1_Weights.IMAGENET1K_V1"
    assert rec["url"] == f"{server.url}/{name}" and rec["sha256"] == sha
    assert res.manifest.model.published is not None  # exactly the entry's weights
    assert res.manifest.model.published["weights"] == rec["name"]
    # the ONNX computes with the served weights, and carries the record inside itself
    x = photo_batch(res.manifest.preprocess, count=2)  # type: ignore[arg-type]
    with torch.no_grad():
        np.testing.assert_allclose(graph.ort_run(graph.ort_session(res.path), x),
                                   ref(torch.from_numpy(x)).numpy(), rtol=1e-3, atol=1e-4)
    manifest.sidecar(res.path).unlink()
    inside = manifest.for_artifact(res.path)
    assert inside is not None and inside.lineage.source["weights_record"]["sha256"] == sha  # type: ignore[index]
    server.close()  # the second export reads the cache: no server, no download
    again = export("squeezenet1_1", ExportOptions(output=tmp_path / "b.onnx", input_size=(64, 64)),
                   Options(num_classes=3))
    rec2 = again.manifest.lineage.source["weights_record"]  # type: ignore[index]
    assert rec2["sha256"] == sha and rec2["head"] == "re-initialised for 3 classes"
    assert again.manifest.model.published is None  # a new head: not the published model
    assert server.gets == [f"/{name}"]


def test_corrupted_download_is_refused_by_its_hash_and_nothing_is_cached(
        server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    good = _state_dict_bytes(tvm.squeezenet1_1())
    name = _serve_squeezenet(server, monkeypatch, good[:-100] + b"\0" * 100, named_for=good)
    code, out, err = _cli(capsys, "export", "squeezenet1_1", "-q", "-o", str(tmp_path / "c.onnx"))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: {name}: the download of SqueezeNet1_1_Weights.IMAGENET1K_V1")
    assert "does not match its sha256" in err and "nothing was cached" in err
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    assert server.gets == [f"/{name}"] and list(folder.iterdir()) == []
    assert not (tmp_path / "c.onnx").exists()


def test_offline_errors_name_the_file_the_cache_and_the_url(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    import huggingface_hub

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    code, _, err = _cli(capsys, "export", "squeezenet1_1", "-o", str(tmp_path / "s.onnx"))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: squeezenet1_1-b8a52dc0.pth: cannot download the pretrained "
                          "weights SqueezeNet1_1_Weights.IMAGENET1K_V1")
    assert (f"put https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth in "
            f"{tmp_path / 'torch' / 'hub' / 'checkpoints'}, or pass --random-weights") in err
    code, _, err = _cli(capsys, "export", "timm:test_efficientnet", "-o", str(tmp_path / "t.onnx"))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: model.safetensors: cannot download the pretrained weights "
                          f"{HF_REPO} (HF_HUB_OFFLINE is set)")
    assert (f"fetch https://huggingface.co/{HF_REPO}/resolve/main/model.safetensors into the "
            f"Hugging Face cache {huggingface_hub.constants.HF_HUB_CACHE}") in err
    assert not list(tmp_path.glob("*.onnx"))
    # --random-weights: no network needed, recorded as such, no published figures
    code, out, err = _cli(capsys, "export", "squeezenet1_1", "--random-weights", "--input-size",
                          "64", "-o", str(tmp_path / "r.onnx"), "--json")
    assert code == 0, err
    man = json.loads(out)["manifest"]
    assert man["lineage"]["source"]["weights"] == "random" and man["model"]["published"] is None
    assert man["lineage"]["source"]["weights_record"]["reason"] == "--random-weights"


def test_published_only_for_the_entrys_exact_weights() -> None:
    src = resolve("resnet50", Options(random_weights=True))  # entry: IMAGENET1K_V2
    assert src.published() is None
    fields = {k: getattr(src, k) for k in ("spec", "kind", "provider", "name", "preprocess",
                                           "entry")}
    exact = Source(**fields, weights_record=WeightsRecord(
        kind="pretrained", name="ResNet50_Weights.IMAGENET1K_V2"))
    other = Source(**fields, weights_record=WeightsRecord(
        kind="pretrained", name="ResNet50_Weights.IMAGENET1K_V1"))
    ckpt = Source(**fields, weights_record=WeightsRecord(kind="checkpoint", file="x.pth"))
    assert exact.published() is not None and exact.published()["top1"] > 80  # type: ignore[index]
    assert other.published() is None and ckpt.published() is None


@pytest.mark.slow
def test_timm_weights_download_through_huggingface_hub(server: _Server, tmp_path: Path) -> None:
    """A real ``edgekit export timm:NAME`` process against HF_ENDPOINT=127.0.0.1."""
    import timm
    from safetensors.torch import save

    torch.manual_seed(2)
    ref = timm.create_model("test_efficientnet").eval()
    body = save(ref.state_dict())
    sha = hashlib.sha256(body).hexdigest()
    server.files[f"/{HF_REPO}/resolve/main/model.safetensors"] = (
        body, {"X-Repo-Commit": "0" * 40, "ETag": f'"{sha}"'})
    env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HUB_OFFLINE": "0",
           "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    out = tmp_path / "t.onnx"
    r = subprocess.run([sys.executable, "-m", "edgekit", "export", "timm:test_efficientnet",
                        "-o", str(out), "--json", "--no-verify"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    man = json.loads(r.stdout)["manifest"]
    rec = man["lineage"]["source"]["weights_record"]
    assert rec["kind"] == "pretrained" and rec["name"] == HF_REPO and rec["sha256"] == sha
    assert rec["url"] == f"{server.url}/{HF_REPO}/resolve/main/model.safetensors"
    blob = tmp_path / "hf" / "hub" / "models--timm--test_efficientnet.r160_in1k" / "blobs" / sha
    assert blob.read_bytes() == body
    assert man["model"]["published"] is None  # not a catalog entry
    x = photo_batch(manifest.read(out).preprocess, count=2)  # type: ignore[arg-type]
    with torch.no_grad():
        np.testing.assert_allclose(graph.ort_run(graph.ort_session(out), x),
                                   ref(torch.from_numpy(x)).numpy(), rtol=1e-3, atol=1e-4)


def test_sweep_stops_offline_and_allow_random_goes_on_with_one_notice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    monkeypatch.chdir(tmp_path)
    tiny = f"{FIX / 'user_models.py'}:tiny"
    args = ["sweep", "squeezenet1_1", "timm:test_efficientnet", tiny, "--precisions", "fp32",
            "--backends", "ort", "--duration", "0.05", "--input-size", "64"]
    code, _, err = _cli(capsys, *args, "-q")
    assert code == 2 and err.count("\n") == 1 and "cannot download the pretrained" in err, err
    assert not (tmp_path / "results").exists()
    code, out, err = _cli(capsys, *args, "--allow-random", "--json")
    assert code == 0, err
    doc = json.loads(out)
    notice = ("pretrained weights could not be fetched for squeezenet1_1, timm:test_efficientnet "
              "(")
    assert len(doc["notices"]) == 1 and doc["notices"][0].startswith(notice)
    assert err.count("accuracy figures are meaningless") == 1 and notice in err
    assert [v["status"] for v in doc["variants"]] == ["ok", "ok", "ok"]
    for stem in ("squeezenet1_1", "timm_test_efficientnet"):
        rec = manifest.read(tmp_path / "report" / "artifacts" / f"{stem}.onnx").lineage.source
        assert rec["weights"] == "random"  # type: ignore[index]
        assert rec["weights_record"]["reason"].startswith("download failed: ")  # type: ignore[index]


@pytest.mark.slow
def test_quickstart_offline_falls_back_with_one_notice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    from edgekit.cli import run as cli_run

    monkeypatch.setattr(cli_run, "QUICKSTART", ("squeezenet1_1",))
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(capsys, "quickstart")
    assert code == 0, err
    assert (out + err).count("accuracy figures are meaningless") == 1, out + err
    assert "RANDOM weights" in err and "no accuracy for random weights" in out
    man = manifest.read(tmp_path / "report" / "artifacts" / "squeezenet1_1.int8.onnx")
    assert man.lineage.source["weights"] == "random"  # type: ignore[index]  # carried to INT8
    assert man.model.published is None



def test_reproduce_line_asks_for_random_weights_only_where_they_were_random() -> None:
    from edgekit.reproduce import artifact_commands

    def line(weights: str) -> str:
        man = {"precision": "fp32", "input": {"shape": ["batch", 3, 64, 64]},
               "lineage": {"source": {"spec": "resnet18", "kind": "catalog", "weights": weights}}}
        return artifact_commands({"result": {"artifact": {"kind": "onnx", "path": "r.onnx"},
                                             "manifest": man}})[0]

    assert line("random").endswith("--random-weights")
    assert "--random-weights" not in line("pretrained:/c/resnet18-f37072fd.pth")
    assert "--pretrained" not in line("pretrained:/c/resnet18-f37072fd.pth")
    assert line("checkpoint:/w/ft.pth").endswith("--weights /w/ft.pth")
