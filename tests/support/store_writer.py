"""A results-store writer process for the crash and concurrency tests.

``python store_writer.py STORE N TAG``: adds N results, printing each id after its commit
(so a parent knows exactly what was reported saved), then exits.
"""

import sys

from edgekit.store import open_store as Store


def fake_result(tag: str, i: int) -> dict:
    return {"schema": "edgekit.result/1", "created": "2026-11-25T00:00:00+00:00", "tag": tag,
            "artifact": {"path": f"m{i}.onnx", "sha256": f"{i:064x}", "size_mb": 1.0},
            "model": {"name": "m", "family": "f", "precision": "fp32", "params": 1000,
                      "gmacs": 0.1},
            "backend": "ort", "device": "cpu", "device_name": "test cpu", "batch": 1 + i % 4,
            "latency": {"p50_ms": 1.0 + i, "p99_ms": 2.0 + i, "mean_ms": 1.1, "images_per_s": 900.0},
            "memory": {"peak_rss_growth_mb": 10.0}, "accuracy": None, "gflops": 1.0,
            "settings": {}, "settings_key": "k", "device_info": {},
            "samples_ms": [1.0 + i / 1000 for _ in range(2000)]}


if __name__ == "__main__":
    store, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    s = Store(store)
    for i in range(n):
        rid = s.add(fake_result(tag, i))
        print(rid, flush=True)
