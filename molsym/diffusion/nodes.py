"""Distribution of the number of atoms, learned from the training set.

EDM factorises ``p(x, h, N) = p(N) p(x, h | N)`` with ``p(N)`` the empirical
histogram of molecule sizes in the training data (Hoogeboom et al. 2022,
Sec. 3.4). For conditional generation the size is drawn from ``p(N | c)``,
a histogram over (size, property bin) pairs, so that large polarisabilities
come with large molecules.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

__all__ = ["AtomCountDistribution"]


class AtomCountDistribution(nn.Module):
    """Histogram ``p(N)`` and optionally ``p(N | property bin)``.

    Parameters
    ----------
    counts : [max_N + 1] float tensor
        Number of training molecules of each size.
    edges : [bins + 1] float tensor, optional
        Property bin edges (quantiles of the training property).
    joint : [bins, max_N + 1] float tensor, optional
        Counts per (property bin, size). Build both with :meth:`fit`.

    A config holds the histogram in plain types (:meth:`to_config`, read back
    by :meth:`from_spec`), so training checkpoints stay loadable with
    ``torch.load(weights_only=True)``.

    Examples
    --------
    >>> d = AtomCountDistribution.fit(torch.tensor([3, 3, 5]))
    >>> round(float(d.log_prob(torch.tensor([3])).exp()), 3)
    0.667
    >>> AtomCountDistribution.from_spec(d.to_config()).counts.tolist()
    [0.0, 0.0, 0.0, 2.0, 0.0, 1.0]
    """

    def __init__(self, counts: torch.Tensor, edges: Optional[torch.Tensor] = None,
                 joint: Optional[torch.Tensor] = None):
        super().__init__()
        counts = torch.as_tensor(counts, dtype=torch.float64)
        self.register_buffer("counts", counts)
        if edges is None:
            edges = torch.zeros(0, dtype=torch.float64)
            joint = torch.zeros(0, counts.shape[0], dtype=torch.float64)
        self.register_buffer("edges", torch.as_tensor(edges, dtype=torch.float64))
        self.register_buffer("joint", torch.as_tensor(joint, dtype=torch.float64))

    @classmethod
    def fit(cls, num_atoms: torch.Tensor, prop: Optional[torch.Tensor] = None,
            num_bins: int = 20) -> "AtomCountDistribution":
        """Histogram the training sizes (and, given ``prop``, sizes per property bin)."""
        num_atoms = torch.as_tensor(num_atoms, dtype=torch.long)
        max_n = int(num_atoms.max())
        counts = torch.bincount(num_atoms, minlength=max_n + 1).double()
        if prop is None:
            return cls(counts)
        prop = torch.as_tensor(prop, dtype=torch.float64)
        edges = torch.quantile(prop, torch.linspace(0, 1, num_bins + 1, dtype=torch.float64))
        bins = torch.bucketize(prop, edges[1:-1].contiguous())
        joint = torch.zeros(num_bins, max_n + 1, dtype=torch.float64)
        joint.index_put_((bins, num_atoms), torch.ones_like(prop), accumulate=True)
        return cls(counts, edges, joint)

    @classmethod
    def from_spec(cls, spec) -> "AtomCountDistribution":
        """A distribution from ``spec``: an instance (returned as is), counts ``[max_N + 1]``
        (list or tensor), or the dict ``{"counts", "edges", "joint"}`` of :meth:`to_config`."""
        if isinstance(spec, cls):
            return spec
        if isinstance(spec, dict):
            unknown = set(spec) - {"counts", "edges", "joint"}
            if "counts" not in spec or unknown:
                raise ValueError(f"atom_counts: a dict needs 'counts' (and optionally 'edges', 'joint'), "
                                 f"got keys {sorted(spec)}")
            return cls(spec["counts"], spec.get("edges"), spec.get("joint"))
        if isinstance(spec, str):
            raise ValueError(f"atom_counts: {spec!r} is not a histogram (molsym train replaces 'auto' by the "
                             "histogram of the training molecules)")
        return cls(torch.as_tensor(spec, dtype=torch.float64))

    def to_config(self) -> dict:
        """The histograms as plain lists: ``{"counts"}``, plus ``"edges"`` and ``"joint"`` if conditional."""
        out = {"counts": self.counts.double().tolist()}
        if self.joint.shape[0] > 0:
            out.update(edges=self.edges.double().tolist(), joint=self.joint.double().tolist())
        return out

    @property
    def max_atoms(self) -> int:
        """Largest molecule size seen in training."""
        return self.counts.shape[0] - 1

    def log_prob(self, n: torch.Tensor) -> torch.Tensor:
        """``log p(N = n)`` for sizes ``n [B]`` (``-inf`` for sizes never seen)."""
        probs = self.counts / self.counts.sum()
        n = n.long()
        inside = (n >= 0) & (n <= self.max_atoms)
        logp = torch.log(probs[n.clamp(0, self.max_atoms)])
        return torch.where(inside, logp, torch.full_like(logp, float("-inf")))

    def _buffers_for(self, generator: Optional[torch.Generator]):
        """``(counts, edges, joint)`` as float64 on the device of the draws (the generator's, else the buffers')."""
        device = generator.device if generator is not None else self.counts.device
        return tuple(b.to(device=device, dtype=torch.float64) for b in (self.counts, self.edges, self.joint))

    def sample(self, num: int, prop: Optional[torch.Tensor] = None,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Draw ``num`` sizes; given property values ``prop [num]``, from ``p(N | c)``.

        The draws are made on the generator's device (a CPU generator also
        serves a model on a GPU).
        """
        counts, edges, joint = self._buffers_for(generator)
        if prop is None or joint.shape[0] == 0:
            return torch.multinomial(counts, num, replacement=True, generator=generator)
        prop = torch.as_tensor(prop, dtype=torch.float64).to(counts.device).reshape(-1).expand(num).contiguous()
        bins = torch.bucketize(prop, edges[1:-1].contiguous())
        rows = joint[bins] + 1e-12 * counts  # never an all-zero row
        return torch.multinomial(rows, 1, replacement=True, generator=generator).view(-1)

    def sample_joint(self, num: int, generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Draw ``num`` pairs ``(size [num], property [num] float64)`` from the fitted joint histogram.

        A (property bin, size) cell is drawn with probability proportional to
        its training count, the property uniformly within the bin, so the
        pairs follow the training data up to the bin width.
        """
        _, edges, joint = self._buffers_for(generator)
        if joint.shape[0] == 0:
            raise ValueError("this size distribution has no property histogram (fit it with prop=...)")
        width = joint.shape[1]
        cells = torch.multinomial(joint.reshape(-1), num, replacement=True, generator=generator)
        b, n = cells // width, cells % width
        u = torch.rand(num, dtype=torch.float64, device=joint.device, generator=generator)
        return n, edges[b] + u * (edges[b + 1] - edges[b])
