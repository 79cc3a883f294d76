"""The ACE representation: exact O(3) symmetry of its outputs and of its internal features.

Independent of the model framework: the representation is called directly on
edge vectors of random point clouds. Rotations are drawn at random, with and
without reflection; e3nn's D-matrices (computed with float64 generators)
give the expected transformation of the internal equivariant features.
"""
import contextlib

import numpy as np
import pytest
import torch
from e3nn import o3

from molsym.nn.layers.ace_basis import edge_coupling, natural_irreps, product_basis
from molsym.nn.layers.ace_ops import EdgeTensorProduct, SymmetricProduct
from molsym.nn.representations.ace import ACE

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse invariant checks"),
              pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")]


@contextlib.contextmanager
def float64_default():
    """e3nn builds its Wigner-D generators in the default dtype: use float64 for exact checks."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def random_o3(seed: int, reflect: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))[0]
    if torch.det(q) < 0:
        q = -q
    return -q if reflect else q


def D(irreps: o3.Irreps, R: torch.Tensor) -> torch.Tensor:
    with float64_default():
        return irreps.D_from_matrix(R)


def cloud(n: int = 12, seed: int = 0, cutoff: float = 4.0, dtype=torch.float64):
    """Random atoms at least 0.9 Å apart (a molecule-like density) and all pairs within the cutoff."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.zeros(0, 3, dtype=dtype)
    while len(pos) < n:
        p = torch.rand(1, 3, generator=g, dtype=dtype) * 5.0
        if len(pos) == 0 or (pos - p).norm(dim=1).min() > 0.9:
            pos = torch.cat([pos, p])
    species = torch.randint(0, 3, (n,), generator=g)
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    mask = (i != j) & ((pos[j] - pos[i]).norm(dim=-1) < cutoff)
    return pos, species, torch.stack([i[mask], j[mask]])


def run(rep, pos, species, edge_index):
    vec = pos[edge_index[1]] - pos[edge_index[0]]
    return rep(species, edge_index, vec, vec.norm(dim=-1), torch.zeros(len(species), dtype=torch.long))


@pytest.fixture(scope="module")
def rep64():
    torch.manual_seed(0)
    # built in the default (float32) dtype, then moved: constants must be re-derived exactly
    return ACE(num_species=3, cutoff=4.0, avg_num_neighbors=8.0, channels=8, hidden_l=2).to(torch.float64)


def test_registered():
    from molsym.nn.representations import REGISTRY
    assert REGISTRY["ace"] is ACE


def test_product_basis_is_equivariant():
    pb = product_basis(2, 3, 2)
    assert np.bincount(pb.basis_l).tolist() == [9, 8, 10]   # independent couplings per L
    rng = np.random.default_rng(1)
    prod = SymmetricProduct(1, 4, 2, 3, 2).to(torch.float64)
    A = torch.as_tensor(rng.standard_normal((9, 5, 4)))
    species = torch.zeros(5, dtype=torch.long)
    irreps = natural_irreps(2)
    for reflect in (False, True):
        Dm = D(irreps, random_o3(3, reflect))
        out_rot = prod(torch.einsum("ij,jnc->inc", Dm, A), species)
        rot_out = torch.einsum("ij,jnc->inc", Dm, prod(A, species))
        assert (out_rot - rot_out).abs().max() < 1e-10 * max(1.0, rot_out.abs().max())


def test_product_basis_spans_degrees():
    """Degree-1/2/3 invariants of one channel: A0; A0², |A1|², |A2|²; … all present."""
    pb = product_basis(2, 3, 0)
    degrees = pb.basis_degree[pb.basis_l == 0]
    assert sorted(np.bincount(degrees).tolist()[1:]) == sorted([1, 3, 5])


def test_high_order_init_scales_only_the_nonlinear_weights():
    """``high_order_init`` multiplies the initial degree ≥ 2 weights; degree 1 and the RNG stream are unchanged."""
    torch.manual_seed(5)
    cubic = SymmetricProduct(2, 4, 2, 3, 2)
    torch.manual_seed(5)
    damped = SymmetricProduct(2, 4, 2, 3, 2, high_order_init=0.1)
    ref, small = cubic.weight.detach(), damped.weight.detach()
    degree = torch.as_tensor(product_basis(2, 3, 2).basis_degree)
    assert torch.equal(small[..., degree == 1], ref[..., degree == 1])
    assert torch.allclose(small[..., degree > 1], 0.1 * ref[..., degree > 1])
    # the output is linear in the weights: the damped product is the linear part plus 0.1 x the rest
    A = 3.0 * torch.randn(9, 5, 4)
    species = torch.tensor([0, 1, 1, 0, 1])
    linear = SymmetricProduct(2, 4, 2, 3, 2)
    with torch.no_grad():
        linear.weight.copy_(ref * (degree == 1))
        out_lin = linear(A, species)
        expected = out_lin + 0.1 * (cubic(A, species) - out_lin)
        assert torch.allclose(damped(A, species), expected, rtol=1e-4, atol=1e-4)


def test_high_order_scale_is_a_fixed_factor_per_degree():
    """``high_order_scale = s`` weighs the degree-d terms by s^(d-1), at any weights (not only at init)."""
    torch.manual_seed(6)
    plain = SymmetricProduct(2, 4, 2, 3, 2).to(torch.float64)
    prior = SymmetricProduct(2, 4, 2, 3, 2, high_order_scale=0.5).to(torch.float64)
    degree = torch.as_tensor(product_basis(2, 3, 2).basis_degree)
    w = torch.randn_like(plain.weight)  # the same trained-looking weights in both
    A = 2.0 * torch.randn(9, 5, 4, dtype=torch.float64)
    species = torch.tensor([0, 1, 1, 0, 1])
    parts = []
    with torch.no_grad():
        prior.weight.copy_(w)
        for d in (1, 2, 3):             # plain holds only the degree-d weights in turn
            plain.weight.copy_(w * (degree == d))
            parts.append(plain(A, species))
        plain.weight.copy_(w)
    expected = parts[0] + 0.5 * parts[1] + 0.25 * parts[2]
    assert torch.allclose(prior(A, species), expected, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(plain(A, species), expected, rtol=1e-3, atol=1e-3)


def test_edge_coupling_paths_have_natural_parity():
    ec = edge_coupling(2, 2, 2)
    assert len(ec.paths) == 11
    assert all((l1 + l2 + l3) % 2 == 0 for l1, l2, l3 in ec.paths)


def test_edge_tensor_product_is_equivariant():
    torch.manual_seed(2)
    tp = EdgeTensorProduct(2, 2, 2).to(torch.float64)
    E, N, C = 7, 4, 3
    h = torch.randn(9, N, C, dtype=torch.float64)
    vec = torch.randn(E, 3, dtype=torch.float64)
    R = torch.randn(E, tp.num_paths, C, dtype=torch.float64)
    edge_index = torch.randint(0, N, (2, E))
    irreps = natural_irreps(2)

    def f(h, vec):
        Y = o3.spherical_harmonics([0, 1, 2], vec, normalize=True, normalization="component")
        return tp(h.transpose(0, 1).contiguous(), Y, R, edge_index, N)   # [N, D, C]

    for reflect in (False, True):
        Rm = random_o3(4, reflect)
        Dm = D(irreps, Rm)
        a = f(torch.einsum("ij,jnc->inc", Dm, h), vec @ Rm.T)
        b = torch.einsum("ij,njc->nic", Dm, f(h, vec))
        assert (a - b).abs().max() < 1e-10


@pytest.mark.parametrize("reflect", [False, True])
def test_output_invariant_under_o3_and_translation(rep64, reflect):
    """Errors are relative to the largest feature (rounding grows with the degree-3 products)."""
    pos, species, edge_index = cloud()
    ref = run(rep64, pos, species, edge_index)
    Rm = random_o3(5, reflect)
    out = run(rep64, pos @ Rm.T + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), species, edge_index)
    assert ref.shape == (len(species), rep64.out_features)
    assert ref.abs().max() > 1e-3                           # not trivially zero
    assert (out - ref).abs().max() < 1e-10 * max(1.0, ref.abs().max())


def test_output_equivariant_under_permutation(rep64):
    pos, species, edge_index = cloud(seed=1)
    ref = run(rep64, pos, species, edge_index)
    perm = torch.randperm(len(species), generator=torch.Generator().manual_seed(3))
    inv = torch.argsort(perm)
    edge_perm = torch.randperm(edge_index.shape[1], generator=torch.Generator().manual_seed(4))
    out = run(rep64, pos[perm], species[perm], inv[edge_index][:, edge_perm])
    assert (out - ref[perm]).abs().max() < 1e-10 * max(1.0, ref.abs().max())


@pytest.mark.parametrize("reflect", [False, True])
def test_internal_features_follow_wigner_d(rep64, reflect):
    """The node features after the first interaction transform as 0e+1o+2e (parity included)."""
    pos, species, edge_index = cloud(seed=2)
    captured = []
    handle = rep64.layers[0].register_forward_hook(lambda mod, inp, out: captured.append(out))
    try:
        run(rep64, pos, species, edge_index)
        Rm = random_o3(6, reflect)
        run(rep64, pos @ Rm.T, species, edge_index)
    finally:
        handle.remove()
    h, h_rot = captured                                      # [D, N, C]
    assert h.shape[0] == 9 and h[1:].abs().max() > 1e-3      # carries l = 1, 2 parts
    Dm = D(natural_irreps(2), Rm)
    assert (h_rot - torch.einsum("ij,jnc->inc", Dm, h)).abs().max() < 1e-10 * max(1.0, h.abs().max())


def test_float32_matches_float64(rep64):
    pos, species, edge_index = cloud(seed=3)
    ref = run(rep64, pos, species, edge_index)
    rep32 = ACE(num_species=3, cutoff=4.0, avg_num_neighbors=8.0, channels=8, hidden_l=2)
    rep32.load_state_dict(rep64.state_dict())
    rep32 = rep32.to(torch.float32)
    out = run(rep32, pos.float(), species, edge_index)
    assert out.dtype == torch.float32
    assert (out.double() - ref).abs().max() < 1e-4 * max(1.0, ref.abs().max())


def test_isolated_atoms_and_no_edges(rep64):
    species = torch.tensor([0, 2])
    out = run(rep64, torch.zeros(2, 3, dtype=torch.float64), species, torch.zeros(2, 0, dtype=torch.long))
    assert out.shape == (2, rep64.out_features) and torch.isfinite(out).all()


def test_smooth_at_cutoff(rep64):
    """A neighbour just inside the cutoff contributes (almost) nothing; beyond it, exactly nothing."""
    species = torch.tensor([0, 1])
    edge_index = torch.tensor([[0, 1], [1, 0]])
    alone = run(rep64, torch.zeros(2, 3, dtype=torch.float64), species, torch.zeros(2, 0, dtype=torch.long))
    pos = torch.tensor([[0.0, 0.0, 0.0], [4.0 - 1e-4, 0.0, 0.0]], dtype=torch.float64)
    near = run(rep64, pos, species, edge_index)
    assert (near - alone).abs().max() < 1e-8


def test_forces_and_training_gradients():
    """Autograd through the representation: gradcheck on edge vectors, and a force loss
    reaches every parameter (double backward, as in training)."""
    torch.manual_seed(1)
    rep = ACE(num_species=3, cutoff=4.0, channels=4, num_interactions=2).to(torch.float64)
    pos, species, edge_index = cloud(n=5, seed=4)
    pos.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: run(rep, p, species, edge_index).sum(), (pos,))
    energy = run(rep, pos, species, edge_index).sum()
    forces = -torch.autograd.grad(energy, pos, create_graph=True)[0]
    forces.pow(2).sum().backward()
    for name, p in rep.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, name


def test_default_size_in_target_range():
    rep = ACE(num_species=3, cutoff=5.0)
    n = sum(p.numel() for p in rep.parameters())
    assert 30_000 <= n <= 100_000
    assert rep.out_features == 64
    assert rep.max_l == 2 and rep.hidden_l == 1


@pytest.mark.parametrize("reflect", [False, True])
def test_default_model_is_invariant(reflect):
    """The default (hidden_l = 1) passes 0e+1o between interactions; the output stays invariant."""
    torch.manual_seed(3)
    rep = ACE(num_species=3, cutoff=4.0, channels=8).to(torch.float64)
    pos, species, edge_index = cloud(seed=5)
    ref = run(rep, pos, species, edge_index)
    out = run(rep, pos @ random_o3(7, reflect).T, species, edge_index)
    assert ref.abs().max() > 1e-3
    assert (out - ref).abs().max() < 1e-10 * max(1.0, ref.abs().max())


@pytest.mark.parametrize("max_l", [1, 2, 3])
def test_spherical_harmonics_match_e3nn(max_l):
    from molsym.nn.layers.ace_ops import SphericalHarmonics
    vec = torch.randn(50, 3, dtype=torch.float64)
    u = vec / vec.norm(dim=1, keepdim=True)
    ours = SphericalHarmonics(max_l).to(torch.float64)(u)
    ref = o3.spherical_harmonics(list(range(max_l + 1)), vec, normalize=True, normalization="component")
    assert (ours - ref).abs().max() < 1e-12


def test_torchscript_matches_eager():
    """The representation compiles with TorchScript (no e3nn at run time) and gives the same numbers."""
    torch.manual_seed(4)
    rep = ACE(num_species=3, cutoff=4.0, channels=4).to(torch.float64)
    scripted = torch.jit.script(rep)
    pos, species, edge_index = cloud(n=6, seed=6)
    pos.requires_grad_(True)
    e_eager = run(rep, pos, species, edge_index).sum()
    f_eager = torch.autograd.grad(e_eager, pos)[0]
    e_script = run(scripted, pos, species, edge_index).sum()
    f_script = torch.autograd.grad(e_script, pos)[0]
    assert abs((e_eager - e_script).item()) < 1e-12
    assert (f_eager - f_script).abs().max() < 1e-12
