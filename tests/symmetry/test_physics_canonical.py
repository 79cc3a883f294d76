"""The canonicalized representations pass the same physics suite as every model;
the raw baseline fails exactly the O(3) check."""
import pytest
import torch

import molsym.symmetry  # noqa: F401  (registers raw / canonical)
from molsym.nn import build_model
from molsym.nn import testing as T

SPECIES = [1, 6, 8]
FLOAT64_ONLY = {"finite_difference_forces", "finite_difference_stress"}


def factory(rep, dtype):
    def make():
        torch.manual_seed(0)
        cfg = {"representation": {"hidden": 16, **rep}, "species": SPECIES, "cutoff": 3.0,
               "e0s": {1: -0.5, 6: -1.5, 8: -2.0}, "scale": 2.0, "shift": 0.3, "avg_num_neighbors": 4.0,
               "dtype": str(dtype).replace("torch.", "")}
        return build_model(cfg).eval()
    return make


FRAMES = [{"name": "canonical", "frame": "pca"}, {"name": "canonical", "frame": "learned"},
          {"name": "canonical", "frame": "learned", "network": "directional"}]


def rep_id(rep):
    return "-".join(filter(None, [rep.get("frame", rep["name"]), rep.get("network")]))


CASES = [pytest.param(rep, check, dtype, id=f"{rep_id(rep)}-{check}-{str(dtype)[6:]}")
         for rep in FRAMES for check in sorted(T.CHECKS) for dtype in (torch.float32, torch.float64)
         if not (check in FLOAT64_ONLY and dtype != torch.float64)]


@pytest.mark.parametrize("rep,check,dtype", CASES)
def test_canonical_physics(rep, check, dtype):
    err = T.CHECKS[check](factory(rep, dtype))
    assert err <= T.default_tolerance(dtype) or check.startswith("finite") or check == "cutoff_smoothness"


@pytest.mark.parametrize("name", ["raw", "directional"])
def test_raw_baseline_fails_o3_but_passes_permutation(name):
    make = factory({"name": name}, torch.float64)
    with pytest.raises(AssertionError):
        T.check_o3_equivariance(make)
    assert T.check_permutation(make) <= T.default_tolerance(torch.float64)


@pytest.mark.parametrize("rep", FRAMES + [{"name": "raw"}, {"name": "directional"}], ids=rep_id)
def test_training_gradients_are_finite(rep):
    """A force-matching loss gives finite gradients for every weight (the isolated
    reference atoms inside ForceField have no edges: a zero vector in the frame).
    Non-degenerate molecules only: a linear one has no differentiable PCA frame."""
    from molsym.data import keys as K
    from molsym.data.collate import collate

    model = factory(rep, torch.float64)().train()
    frames = [T.make_frame([6, 8, 1, 1], [[0, 0, 0], [1.2, 0.1, 0], [-0.5, 0.9, 0.1], [-0.4, -0.9, -0.3]]),
              T.make_frame([8, 1, 1], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0.05]])]
    batch = collate([T.frame_to_graph(f, 3.0, torch.float64) for f in frames])
    out = model(batch)
    loss = out[K.ENERGY].pow(2).sum() + out[K.FORCES].pow(2).sum()
    loss.backward()
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
