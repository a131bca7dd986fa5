"""Shared test setup: offline (no sockets, no hub), tiny models, the gpu marker."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import FIX

pytest_plugins = ["support.trt"]  # the fake-TensorRT fixture ``use``


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Nothing may download: hubs offline, empty caches, and every socket connect refused."""
    cache = tmp_path_factory.getbasetemp() / "empty-cache"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))
    monkeypatch.setenv("HF_HOME", str(cache / "hf"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("tests are offline: edgekit must not open network connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    hub = sys.modules.get("huggingface_hub.constants")  # read HF_HUB_OFFLINE when imported
    if hub is not None:  # (by a test module at collection, before this fixture set it)
        monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _gpu_missing()
    if reason:
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def _gpu_missing() -> str:
    try:
        from cuda.bindings import runtime  # cuda-python: the GPU probe

        err, count = runtime.cudaGetDeviceCount()
        if int(err) != 0 or not count:
            return f"no CUDA device ({err})"
    except Exception as e:  # cuda-python absent or no driver
        return f"no CUDA device ({type(e).__name__}: {str(e)[:80]})"
    return ""


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """scikit-learn's digits as ImageFolders (train/test) and the trained fixture CNN exported
    to ONNX twice: ``digits_cnn`` (with the layer built to quantize badly) and the plain one."""
    from support.digits import write_split

    from edgekit.export import ExportOptions, export
    from edgekit.sources import Options

    root = tmp_path_factory.mktemp("digits")
    train, test = write_split(root / "data")
    out = {"train": train, "test": test}
    for name in ("digits_cnn", "digits_cnn_plain"):
        res = export(f"{FIX / 'digits_model.py'}:{name}", ExportOptions(output=root / f"{name}.onnx"),
                     Options(weights=FIX / "digits_cnn.pth"))
        out[name] = res.path
    return out


@pytest.fixture(scope="session")
def pg_session() -> Iterator[str]:
    """One fresh database on 127.0.0.1:5432 for this test session, dropped at the end."""
    from support import pg

    url = pg.create_database()
    yield url
    pg.drop_database(url)


@pytest.fixture()
def pg_url(pg_session: str) -> str:
    """The session database, emptied: a fresh PostgreSQL store for one test."""
    from support import pg

    pg.reset(pg_session)
    return pg_session


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both backends: a SQLite folder, or a fresh PostgreSQL store."""
    if request.param == "sqlite":
        return str(tmp_path / "results")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def digits_int8(digits: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> dict[str, Path]:
    """INT8 QDQ children of both digits exports (the bundled calibration photos)."""
    from edgekit.quantize import QuantOptions, quantize

    root = tmp_path_factory.mktemp("digits-int8")
    return {name: quantize(digits[name], QuantOptions(output=root / f"{name}.int8.onnx")).path
            for name in ("digits_cnn", "digits_cnn_plain")}

