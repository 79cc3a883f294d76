import numpy as np
import pytest
import torch

from molsym.diffusion import NoiseSchedule, cosine_alpha2, polynomial_alpha2


@pytest.mark.parametrize("shape", ["polynomial", "cosine"])
def test_schedule_is_monotone_and_clamped(shape):
    T, s = 1000, 1e-5
    a2 = (polynomial_alpha2 if shape == "polynomial" else cosine_alpha2)(T, precision=s)
    assert a2.shape == (T + 1,)
    assert np.all(np.diff(a2) <= 0)  # signal only decreases
    # precision clamp: alpha^2 stays in [s, 1 - s]
    assert a2.max() <= 1 - s + 1e-15 and a2.min() >= s - 1e-15
    assert a2[0] > 0.999 and a2[-1] < 1e-3


def test_step_clip_bounds_every_step():
    clip = 0.05
    a2 = polynomial_alpha2(100, precision=0.0, clip=clip)
    ratio = a2[1:] / np.maximum(a2[:-1], 1e-300)
    assert ratio.min() >= clip - 1e-12
    unclipped = polynomial_alpha2(100, precision=0.0, clip=0.0)
    assert unclipped[-1] == 0.0 and a2[-1] > 0.0  # the clip is what keeps the last step finite


def test_gamma_alpha_sigma_are_consistent():
    sched = NoiseSchedule(50, "cosine")
    t = torch.arange(51)
    assert torch.allclose(sched.alpha2(t) + sched.sigma2(t), torch.ones(51, dtype=torch.float64))
    assert torch.allclose(sched.gamma(t), torch.log(sched.sigma2(t) / sched.alpha2(t)))
    assert torch.all(torch.diff(sched.gamma(t)) > 0)


def test_unknown_shape_is_rejected():
    with pytest.raises(ValueError, match="unknown noise schedule"):
        NoiseSchedule(10, "linear")
