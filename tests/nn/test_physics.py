"""The physics suite (molsym.nn.testing) on every registered representation, in float32 and float64.

Every representation that lives in molsym.nn.representations (painn, egnn,
ace, ...) joins automatically, built with its ``test_hyperparameters``.
Representations registered from elsewhere (e.g. molsym.symmetry's deliberately
non-equivariant baselines) are left out, so the set does not depend on which
test modules were imported first; their owners run the suite on them.
"""
import pytest
import torch

from molsym.nn import build_model
from molsym.nn import testing as T
from molsym.nn.representations import REGISTRY

SPECIES = [1, 6, 8]
E0S = {1: -0.5, 6: -1.5, 8: -2.0}

#: (label, representation name, extra model config)
CORE = sorted(name for name, cls in REGISTRY.items() if cls.__module__.startswith("molsym.nn.representations."))
VARIANTS = [(name, name, {}) for name in CORE] + [
    ("painn-stored", "painn", {"zbl": False, "core_radius": None, "bond_switch": None}),  # files before the switch
    ("painn-zbl1", "painn", {"zbl_factor": 1.0}),
    # configs/acac.yaml's architecture: l <= 2 between interactions, the shorter-reaching prior
    ("ace-hl2+zbl", "ace", {"representation": {"hidden_l": 2}, "zbl_factor": 0.75}),
    # l <= 3 harmonics with the damped product init (docs/flagship.md), both node-state sizes
    ("ace-l3-hl2", "ace", {"representation": {"max_l": 3, "hidden_l": 2, "high_order_init": 0.1}}),
    ("ace-l3-hl1", "ace", {"representation": {"max_l": 3, "hidden_l": 1, "high_order_init": 0.1}}),
    # the degree prior on the product and a linear energy head (docs/flagship.md)
    ("ace-prior-linhead", "ace", {"representation": {"high_order_scale": 0.3}, "head_hidden": 0}),
]
#: Finite differences run in a float64 copy of the model: once is enough.
FLOAT64_ONLY = {"finite_difference_forces", "finite_difference_stress"}


def make_factory(name, dtype, extra):
    def factory():
        torch.manual_seed(0)
        hp = dict(getattr(REGISTRY[name], "test_hyperparameters", {}))
        top = {k: v for k, v in extra.items() if k != "representation"}
        config = {"representation": {"name": name, **hp, **extra.get("representation", {})}, "species": SPECIES,
                  "cutoff": 3.0, "e0s": E0S, "scale": 2.0, "shift": 0.3, "avg_num_neighbors": 4.0,
                  "dtype": str(dtype).replace("torch.", ""), **top}
        return build_model(config).eval()
    return factory


CASES = [pytest.param(label, name, extra, check, dtype, id=f"{label}-{check}-{str(dtype)[6:]}")
         for label, name, extra in VARIANTS for check in sorted(T.CHECKS)
         for dtype in (torch.float32, torch.float64)
         if not (check in FLOAT64_ONLY and dtype != torch.float64)]


@pytest.mark.parametrize("label,name,extra,check,dtype", CASES)
def test_physics(label, name, extra, check, dtype):
    default = torch.get_default_dtype()
    err = T.CHECKS[check](make_factory(name, dtype, extra))
    assert err <= T.default_tolerance(dtype) or check.startswith("finite") or check == "cutoff_smoothness"
    assert torch.get_default_dtype() == default


@pytest.mark.parametrize("label,name,extra", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_physics_in_training_mode(label, name, extra):
    """create_graph=True while training must give the same forces, and they must be differentiable."""
    model = make_factory(name, torch.float64, extra)()
    batch = T.collate([T.frame_to_graph(T.random_molecule(SPECIES, 5), 3.0)])
    f_eval = model(batch)["forces"]
    model.train()
    f_train = model(batch)["forces"]
    assert f_train.requires_grad and not f_eval.requires_grad
    assert torch.allclose(f_train, f_eval, atol=1e-12)
    f_train.pow(2).sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().max()) > 0 for g in grads)


def test_core_representations_are_in_the_suite():
    assert {"painn", "egnn"} <= set(CORE)
