"""The torch side of an export's check: the reference outputs of a module on photos
(``torch_forward``), and the first tensor of whatever a model returns (``first_tensor``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit._lazy import require
from edgekit.errors import SourceError
from edgekit.sources import Source


def torch_forward(model: Any, x: np.ndarray, src: Source) -> tuple[np.ndarray, int]:
    """Reference logits on ``x``, and the parameter count of the modules that ran.

    Counting only modules that run keeps training-only branches (GoogLeNet's auxiliary
    heads) out of the figure, as in the published counts. ScriptModules count everything.
    """
    torch = require("torch")
    ran: set[int] = set()
    hooks = []
    if not isinstance(model, torch.jit.ScriptModule):
        hooks = [m.register_forward_hook(lambda mod, i, o: ran.add(id(mod)))
                 for m in model.modules()]
    try:
        with torch.inference_mode():
            step = src.batch or len(x)  # a fixed-batch model runs the images in chunks
            ys = [first_tensor(model(torch.from_numpy(x[i:i + step])))
                  for i in range(0, len(x), step)]
            y = torch.cat(ys) if all(t is not None for t in ys) else None
    except Exception as e:  # shape errors from too-small inputs, user code bugs
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise SourceError(f"the model fails on a {x.shape[2]}x{x.shape[3]} input ({msg})",
                          "try a larger --input-size, or check the model", path=src.spec) from e
    finally:
        for h in hooks:
            h.remove()
    params = {id(p): p.numel() for m in model.modules() if not ran or id(m) in ran
              for p in m.parameters(recurse=False)}
    if y is None:
        raise SourceError("the model returned no tensor", "return logits (N x classes)",
                          path=src.spec)
    return np.asarray(y.float().numpy()), int(sum(params.values()))


def first_tensor(y: Any) -> Any:
    if hasattr(y, "numpy"):
        return y
    if isinstance(y, list | tuple) and y:
        return first_tensor(y[0])
    if isinstance(y, dict) and y:
        return first_tensor(next(iter(y.values())))
    return getattr(y, "logits", None)
