import pytest
import torch

from molsym.data.collate import collate
from molsym.data.frame import make_frame
from molsym.data.graph import frame_to_graph
from molsym.nn import ForceField, UnknownSpeciesError, build_model
from molsym.nn.testing import random_crystal, random_molecule

CONFIG = {"representation": {"name": "painn", "hidden": 8, "num_layers": 1, "num_basis": 4},
          "species": [1, 6, 8], "cutoff": 3.0, "e0s": {1: -13.6, 6: -1030.0, 8: -2040.0}}


def test_build_model_defaults_and_to_config_round_trip(dtype):
    default = torch.get_default_dtype()
    torch.manual_seed(0)
    model = build_model({**CONFIG, "dtype": dtype})
    assert torch.get_default_dtype() == default
    assert isinstance(model, ForceField) and model.dtype == dtype
    assert model.cutoff == 3.0 and model.species == [1, 6, 8]
    assert all(p.dtype == dtype for p in model.parameters())
    cfg = model.to_config()
    assert cfg["dtype"] == str(dtype).split(".")[1] and cfg["zbl"] is True
    assert cfg["core_radius"] == 0.75 and cfg["bond_switch"] == [1.5, 2.5]
    assert cfg["representation"] == CONFIG["representation"]
    clone = build_model(cfg)
    clone.load_state_dict(model.state_dict())
    g = frame_to_graph(random_molecule([1, 6, 8], 5), 3.0, dtype)
    assert torch.equal(clone.eval()(g)["energy"], model.eval()(g)["energy"])


def test_config_keys_from_yaml_are_normalised():
    model = build_model({**CONFIG, "e0s": {"1": -13.6, "6": -1030, "8": -2040}, "dtype": "torch.float32"})
    assert model.e0s == {1: -13.6, 6: -1030.0, 8: -2040.0}
    assert model.dtype == torch.float32


def test_bad_configs_are_refused():
    with pytest.raises(KeyError, match="registered"):
        build_model({**CONFIG, "representation": {"name": "nope"}})
    with pytest.raises(ValueError, match="lack an energy"):
        build_model({**CONFIG, "e0s": {1: -13.6}})
    with pytest.raises(ValueError, match="dtype"):
        build_model({**CONFIG, "dtype": "float16"})
    with pytest.raises(ValueError, match="species"):
        build_model({"representation": {"name": "egnn"}})
    with pytest.raises(ValueError, match="head_hidden"):
        build_model({**CONFIG, "head_hidden": -1})


def test_head_hidden_zero_is_a_linear_head():
    model = build_model({**CONFIG, "head_hidden": 0})
    assert [type(m) for m in model.head] == [torch.nn.Linear]
    assert model.head[0].out_features == 1


def test_unknown_element_names_it():
    model = build_model(CONFIG)
    g = frame_to_graph(make_frame([6, 7, 1], [[0, 0, 0], [1.2, 0, 0], [0, 1.1, 0]]), 3.0)
    with pytest.raises(UnknownSpeciesError, match=r"7 \(N\).*\[1, 6, 8\]"):
        model(g)


def test_outputs_shapes_and_flags():
    model = build_model(CONFIG).eval()
    batch = collate([frame_to_graph(random_molecule([1, 6, 8], 5, seed=s), 3.0) for s in range(2)]
                    + [frame_to_graph(random_crystal([1, 6, 8], 4), 3.0)])
    out = model(batch, compute_forces=False)
    assert set(out) == {"energy", "node_energy"} and out["energy"].shape == (3,)
    out = model(batch, compute_stress=True)
    assert out["forces"].shape == (14, 3) and out["stress"].shape == (3, 3, 3)
    assert torch.all(out["stress"][:2] == 0) and out["stress"][2].abs().max() > 0   # molecules have no stress
    assert torch.allclose(out["stress"][2], out["stress"][2].T, atol=1e-12)
    assert torch.allclose(out["energy"], torch.zeros(3, dtype=torch.float64).index_add_(0, batch["batch"], out["node_energy"]))
    # forces without momentum drift for a molecule
    assert out["forces"][:5].sum(0).abs().max() < 1e-12
    with torch.no_grad():  # forces still work under no_grad, as a calculator would call them
        again = model(batch)
    assert torch.allclose(again["forces"], out["forces"])


def test_zbl_prior_repels_at_short_range_and_vanishes_beyond_covalent_distance():
    torch.manual_seed(0)
    plain = build_model({**CONFIG, "e0s": None, "zbl": False})
    torch.manual_seed(0)
    prior = build_model({**CONFIG, "e0s": None, "zbl": True, "zbl_factor": 1.0})

    def energy(model, r):
        g = frame_to_graph(make_frame([1, 8], [[0, 0, 0], [r, 0, 0]]), 3.0)
        return float(model.eval()(g)["energy"].detach())

    assert energy(prior, 0.2) - energy(plain, 0.2) > 10.0                    # eV: strong repulsion
    assert energy(prior, 0.2) > energy(prior, 0.4) > energy(prior, 0.6)
    assert energy(prior, 1.5) == pytest.approx(energy(plain, 1.5), abs=1e-12)  # beyond r_cov(H)+r_cov(O)
    torch.manual_seed(0)
    short = build_model({**CONFIG, "e0s": None, "zbl": True, "zbl_factor": 0.5})   # pair cutoff 0.485 Å
    assert energy(short, 0.6) == pytest.approx(energy(plain, 0.6), abs=1e-12)
    assert energy(short, 0.3) - energy(plain, 0.3) > 10.0


def test_e0s_stay_exact_through_dtype_changes():
    model = build_model({**CONFIG, "e0s": {1: -13.605693122994, 6: -1029.8631, 8: -2041.123456789}, "dtype": "float32"})
    model = model.to(torch.float64).eval()
    g = frame_to_graph(make_frame([8], [[0.0, 0.0, 0.0]]), 3.0, torch.float64)
    assert float(model(g)["energy"].detach()) == -2041.123456789


def test_force_field_built_directly_in_default_dtype():
    from molsym.nn.representations.egnn import EGNN
    model = ForceField(EGNN(3, 3.0, hidden=8, num_layers=1), [1, 6, 8], 3.0)
    g = frame_to_graph(random_molecule([1, 6, 8], 4), 3.0, torch.float32)
    out = model(g)
    assert model.dtype == torch.float32 and out["energy"].dtype == torch.float32
    with pytest.raises(ValueError, match="no config"):
        model.to_config()


def test_set_e0s_changes_isolated_energies_and_config():
    model = build_model(CONFIG).eval()
    g = frame_to_graph(make_frame([6], [[0.0, 0.0, 0.0]]), 3.0)
    model(g)  # fills the cached table
    model.set_e0s({1: -1.0, 6: -2.5, 8: -3.0, 9: -4.0})
    assert float(model(g)["energy"].detach()) == -2.5
    assert model.to_config()["e0s"] == {1: -1.0, 6: -2.5, 8: -3.0}
    with pytest.raises(ValueError, match=r"\[8\]"):
        model.set_e0s({1: 0.0, 6: 0.0})


def test_symmetry_representations_build_in_a_fresh_process():
    """Configs and exported models naming ``canonical``/``raw``/``directional`` work without
    importing molsym.symmetry by hand (the registry imports the providing module)."""
    import subprocess
    import sys
    code = (
        "import sys\n"
        "from molsym.nn import build_model\n"
        "assert 'molsym.symmetry' not in sys.modules\n"
        "m = build_model({'representation': {'name': 'canonical', 'frame': 'learned', 'network': 'directional',"
        " 'hidden': 8}, 'species': [1, 8]})\n"
        "print(type(m.representation).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "CanonicalRepresentation"
