"""Short-range physics (molsym.nn.short_range): a repulsive wall for every pair, dissociation within
chemical distances, no step at the cutoff — for any weights, so untrained models show it."""
import itertools

import numpy as np
import pytest
import torch
from ase.data import covalent_radii

from molsym.data.collate import collate
from molsym.data.frame import make_frame
from molsym.data.graph import frame_to_graph
from molsym.nn import build_model, load_model, save_model
from molsym.nn.model import STORED_DEFAULTS
from molsym.nn.short_range import CORE_FLAT, bond_weights, clamp_core, saturate

SPECIES = [1, 6, 7, 8]
CUTOFF = 5.0
REPRESENTATIONS = {"painn": {"hidden": 8, "num_layers": 2, "num_basis": 4},
                   "egnn": {"hidden": 8, "num_layers": 2},
                   "ace": {"channels": 4, "max_l": 2, "correlation": 2, "num_interactions": 2, "hidden_l": 2}}


def model_for(name, **extra):
    torch.manual_seed(0)
    config = {"representation": {"name": name, **REPRESENTATIONS[name]}, "species": SPECIES, "cutoff": CUTOFF,
              "e0s": {1: -13.6, 6: -1029.0, 7: -1485.0, 8: -2042.0}, "scale": 1.0, "shift": -3.0,
              "avg_num_neighbors": 3.0, "dtype": "float64", **extra}
    return build_model(config).eval()


def evaluate(model, numbers, frames):
    """The model's outputs for the molecule ``numbers`` at each position array in ``frames``, in one batch."""
    return model(collate([frame_to_graph(make_frame(numbers, pos), CUTOFF, torch.float64) for pos in frames]))


def energies(model, numbers, frames):
    """Energies (eV) of the molecules ``numbers`` at each position array in ``frames``."""
    return evaluate(model, numbers, frames)["energy"].detach().numpy()


def pair_curve(model, za, zb, r):
    return energies(model, [za, zb], [[[0, 0, 0], [x, 0, 0]] for x in r])


def test_clamp_is_the_identity_above_the_core_flat_deep_inside_and_monotone():
    rho = torch.tensor(1.0, dtype=torch.float64)
    r = torch.linspace(0.05, 1.5, 2001, dtype=torch.float64, requires_grad=True)
    out = clamp_core(r, rho.expand_as(r), 0.6)
    slope, = torch.autograd.grad(out.sum(), r)
    above, flat = r > 0.6, r < CORE_FLAT * 0.6
    assert torch.equal(out[above], r[above])
    assert torch.allclose(out[flat], out[flat][0].expand(int(flat.sum())), atol=0, rtol=0)
    assert float(slope[flat].abs().max()) == 0.0
    assert float(slope.min()) >= 0.0 and float(slope.max()) <= 1.0 + 1e-12
    assert float(slope.diff().abs().max()) < 0.01        # the slope itself is continuous: no kink


def test_bond_weights_and_saturation():
    rho = torch.full((5,), 1.0, dtype=torch.float64)
    r = torch.tensor([0.9, 1.5, 2.0, 2.5, 3.0], dtype=torch.float64)
    w = bond_weights(r, rho, 1.5, 2.5, CUTOFF)
    assert w.tolist()[:2] == [1.0, 1.0] and w.tolist()[3:] == [0.0, 0.0] and 0 < float(w[2]) < 1
    capped = bond_weights(torch.tensor([3.9, 4.0]), torch.tensor([2.0, 2.0]), 1.5, 2.5, 4.0)
    assert float(capped[1]) == 0.0 and float(capped[0]) > 0.0        # off × ρ = 5 Å is capped at the cutoff
    c = torch.tensor([0.0, 0.5, 1.0, 3.0])
    assert saturate(c).tolist() == [0.0, 0.875, 1.0, 1.0]


@pytest.mark.parametrize("name", sorted(REPRESENTATIONS))
def test_every_pair_has_a_monotone_repulsive_wall(name):
    model = model_for(name)
    for za, zb in itertools.combinations_with_replacement(SPECIES, 2):
        rho = covalent_radii[za] + covalent_radii[zb]
        r = np.linspace(0.05, CORE_FLAT * model.core_radius, 12) * rho   # the network is flat here, ZBL acts
        e = pair_curve(model, za, zb, r)
        assert np.all(np.diff(e) < 0), (name, za, zb, e)
        assert e[0] - e[-1] > 10.0, (name, za, zb, e)          # eV: the wall rises whatever the weights


@pytest.mark.parametrize("name", sorted(REPRESENTATIONS))
def test_a_pulled_atom_leaves_smoothly_and_is_isolated_beyond_the_bond_switch(name):
    model = model_for(name)
    numbers = [8, 1, 1]                                  # water; the second H is pulled along the O-H bond
    direction = np.array([0.0, 0.757, 0.586]) / np.linalg.norm([0.0, 0.757, 0.586])
    r = np.linspace(0.95, CUTOFF + 0.6, 300)
    out = evaluate(model, numbers, [[[0, 0, 0], [0, -0.757, 0.586], list(x * direction)] for x in r])
    e = out["energy"].detach().numpy()
    pull = (out["forces"].detach().view(len(r), 3, 3)[:, 2] @ torch.as_tensor(direction)).numpy()  # along the pull
    # a step anywhere (at the bond switch, at the cutoff) breaks dE = -F dr between neighbouring points
    work = -0.5 * (pull[1:] + pull[:-1]) * np.diff(r)
    assert np.max(np.abs(np.diff(e) - work)) < 2e-3, name
    assert np.max(np.abs(np.diff(e))) > 1e-3, name      # it does change along the way
    gone = r > 2.5 * (covalent_radii[1] + covalent_radii[8]) + 0.1
    graph = frame_to_graph(make_frame(numbers, [[0, 0, 0], [0, -0.757, 0.586], list(r[np.argmax(gone)] * direction)]),
                           CUTOFF, torch.float64)
    assert float(model(graph)["node_energy"][2].detach()) == -13.6   # the H alone: its E0, nothing learned


def test_the_shift_adds_no_force_in_a_bound_molecule():
    numbers = [6, 1, 1, 1, 8, 1]
    pos = [[0, 0, 0], [1.09, 0, 0], [-0.36, 1.03, 0], [-0.36, -0.51, 0.89], [-0.47, -0.67, -1.17], [-1.4, -0.6, -1.2]]
    graph = frame_to_graph(make_frame(numbers, pos), CUTOFF, torch.float64)
    a, b = model_for("painn", shift=-3.0), model_for("painn", shift=+7.0)
    fa, fb = a(graph)["forces"], b(graph)["forces"]
    assert torch.equal(fa, fb)
    assert float((b(graph)["energy"] - a(graph)["energy"]).detach()) == pytest.approx(10.0 * len(numbers), abs=1e-9)


def test_a_model_file_without_the_short_range_keys_loads_as_written(tmp_path):
    stored = model_for("painn", **STORED_DEFAULTS)
    path = tmp_path / "old.pt"
    save_model(stored, path)
    payload = torch.load(path, weights_only=True)
    for key in STORED_DEFAULTS:                        # a file from before the keys existed
        payload["config"].pop(key)
    torch.save(payload, path)
    loaded = load_model(path)
    assert loaded.core_radius == 0.0 and loaded.bond_off == 0.0 and loaded.zbl is None
    r = [0.3, 0.6, 1.0, 3.0, 4.9]
    assert np.array_equal(pair_curve(loaded, 1, 8, r), pair_curve(stored, 1, 8, r))
    new = model_for("painn")
    save_model(new, tmp_path / "new.pt")
    assert np.array_equal(pair_curve(load_model(tmp_path / "new.pt"), 1, 8, r), pair_curve(new, 1, 8, r))
