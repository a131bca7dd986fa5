"""The catalog's published figures agree with the architectures they name.

Every entry is built with random weights on the meta device (no memory, no download) and its
parameter count and GMACs (torch's FlopCounterMode, MACs = FLOPs / 2) are compared with the
published figures: a typo or a wrong provider name in models/catalog.yaml fails here.
"""

from __future__ import annotations

import warnings

import pytest
import timm
import torch
import torchvision.models as tvm
from torch.utils.flop_counter import FlopCounterMode

from edgekit.catalog import load_catalog
from edgekit.sources import Options, resolve

ENTRIES = list(load_catalog().entries.values())


def _build(provider: str, name: str, device: str) -> torch.nn.Module:
    with warnings.catch_warnings(), torch.device(device):
        warnings.simplefilter("ignore")
        m = tvm.get_model(name, weights=None) if provider == "torchvision" else timm.create_model(name)
    return m.eval()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.short for e in ENTRIES])
def test_published_params_and_gmacs_match_the_architecture(entry) -> None:  # type: ignore[no-untyped-def]
    device = "meta"
    try:
        model = _build(entry.provider, entry.name, device)
    except NotImplementedError:  # regnet computes its widths with real tensors
        device = "cpu"
        model = _build(entry.provider, entry.name, device)
    # GoogLeNet's published count excludes its training-only aux heads (torchvision drops them)
    params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("aux"))
    assert params == pytest.approx(entry.params, rel=0.001 if entry.provider == "timm" else 0)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, 3, entry.input_size, entry.input_size, device=device))
    assert counter.get_total_flops() / 2e9 == pytest.approx(entry.gmacs, rel=0.02)
    assert 0 < entry.top5 <= 100 and 0 < entry.top1 < entry.top5  # type: ignore[operator]
    assert entry.min_size[0] <= entry.input_size and entry.source


def test_aliases_point_at_entries_and_short_names_resolve() -> None:
    cat = load_catalog()
    assert all(target in cat.entries for target in cat.aliases.values())
    src = resolve("mobilenetv3", Options(random_weights=True))
    assert src.entry is not None and src.entry.short == "mobilenet_v3_large"
    assert src.preprocess == src.entry.preprocess


def test_ambiguous_bare_name_is_refused_with_both_spellings() -> None:
    from edgekit.errors import SourceError

    # in both torchvision and timm, and not in the catalog
    both = sorted(set(tvm.list_models(module=tvm)) & set(timm.list_models())
                  - set(load_catalog().names()))
    assert both, "expected a name known to both providers"
    with pytest.raises(SourceError, match="both a torchvision and a timm model"):
        resolve(both[0])
