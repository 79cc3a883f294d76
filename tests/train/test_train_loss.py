"""Declared losses: every term is (pred, target), weights and per-atom normalisation apply."""
import pytest
import torch

from molsym.train.loss import LOSS_FUNCTIONS, LossTerm, WeightedLoss, loss_from_config


def _batch():
    return {"energy": torch.tensor([1.0, -2.0], dtype=torch.float64),
            "forces": torch.arange(15, dtype=torch.float64).reshape(5, 3) / 10,
            "num_atoms": torch.tensor([2, 3]),
            "stress": torch.zeros(2, 3, 3, dtype=torch.float64)}


def _pred(batch):
    return {"energy": batch["energy"] + torch.tensor([0.2, 0.6], dtype=torch.float64),
            "forces": batch["forces"] + 0.1,
            "stress": batch["stress"] + 0.5}


def test_terms_by_hand():
    target = _batch()
    pred = _pred(target)
    loss = loss_from_config([{"key": "energy", "fn": "mse", "weight": 2.0, "per_atom": True},
                             {"key": "forces", "fn": "mae", "weight": 10.0},
                             {"key": "stress", "fn": "huber", "weight": 1.0, "options": {"delta": 0.1}}])
    total, parts = loss(pred, target)
    e_pa = ((0.2 / 2) ** 2 + (0.6 / 3) ** 2) / 2
    f_mae = 0.1
    s_huber = 0.1 * (0.5 - 0.5 * 0.1)  # |x| > delta: delta (|x| - delta/2)
    assert parts["energy_per_atom"].item() == pytest.approx(e_pa)
    assert parts["forces"].item() == pytest.approx(f_mae)
    assert parts["stress"].item() == pytest.approx(s_huber)
    assert total.item() == pytest.approx(2 * e_pa + 10 * f_mae + s_huber)


def test_total_energy_differs_from_per_atom():
    target = _batch()
    pred = _pred(target)
    per_atom, _ = WeightedLoss([LossTerm("energy", per_atom=True)])(pred, target)
    total, _ = WeightedLoss([LossTerm("energy")])(pred, target)
    assert total.item() == pytest.approx((0.2 ** 2 + 0.6 ** 2) / 2)
    assert per_atom.item() < total.item()


def test_argument_order_is_pred_then_target():
    # the Huber loss is symmetric but per-atom normalisation reads num_atoms from the target only
    target = _batch()
    pred = {k: v for k, v in _pred(target).items()}
    term = LossTerm("energy", per_atom=True)
    with pytest.raises(KeyError, match="labels"):
        term(target, {"num_atoms": target["num_atoms"]})
    assert term(pred, target).item() > 0


def test_loss_is_differentiable():
    target = _batch()
    e = target["energy"].clone().requires_grad_(True)
    total, _ = loss_from_config([{"key": "energy"}])({"energy": e * 1.1}, target)
    total.backward()
    assert e.grad is not None and torch.all(e.grad != 0)


@pytest.mark.parametrize("bad, match", [
    ({"key": "dipole"}, "loss key"),
    ({"key": "energy", "fn": "l4"}, "loss function"),
    ({"key": "forces", "per_atom": True}, "energy only"),
])
def test_bad_terms_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        loss_from_config([bad])


def test_duplicate_and_empty_losses_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        loss_from_config([{"key": "forces"}, {"key": "forces", "fn": "mae"}])
    with pytest.raises(ValueError, match="at least one"):
        WeightedLoss([])


def test_registry_names():
    assert {"mse", "mae", "huber"} <= set(LOSS_FUNCTIONS)
