"""What a molecule may be conditioned on: target values of molecular properties, and a fragment
(atoms whose elements, bonds and shape are given, in any pose)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from molgen.core.state import State


@dataclass(frozen=True)
class FragmentCondition:
    """A fixed fragment in the molecules of a batch of ``N`` atoms and ``P`` atom pairs, as the
    network reads it: which atoms and pairs it covers, their types and bond orders, and the
    distances between its atoms. Its pose is not part of it, so the condition is invariant.

    Attributes:
        atoms: ``[N]`` 0/1, the fragment's atoms.
        feat: ``[N, T]`` their clean type features (zero rows elsewhere).
        pairs: ``[P]`` 0/1, the pairs of two fragment atoms.
        pair: ``[P, S]`` their clean pair features (bond orders; zero rows elsewhere).
        dist: ``[P]`` their distances in model units (0 elsewhere).
    """

    atoms: torch.Tensor
    feat: torch.Tensor
    pairs: torch.Tensor
    pair: torch.Tensor
    dist: torch.Tensor

    @classmethod
    def of(cls, clean: State, fixed: torch.Tensor) -> FragmentCondition:
        """The fragment of the atoms ``fixed`` (``[N]`` bool) of a clean state with a pair channel
        (other atoms' rows of ``clean`` are ignored)."""
        i, j = clean.pair_index
        pairs = fixed[i] & fixed[j]
        dist = (clean.pos[i] - clean.pos[j]).norm(dim=-1)
        atoms, pairs = fixed.to(clean.pos.dtype), pairs.to(clean.pos.dtype)
        return cls(atoms, clean.feat * atoms[:, None], pairs, clean.pair * pairs[:, None], dist * pairs)

    def cat(self, other: FragmentCondition) -> FragmentCondition:
        return FragmentCondition(*(torch.cat([a, b]) for a, b in zip(self._tensors(), other._tensors())))

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> FragmentCondition:
        return FragmentCondition(*(x.to(device, dtype) for x in self._tensors()))

    def _tensors(self) -> tuple[torch.Tensor, ...]:
        return self.atoms, self.feat, self.pairs, self.pair, self.dist


@dataclass(frozen=True)
class MoleculeConditions:
    """Conditioning of a batch of ``G`` molecules (the molecule domain's conditioning object).

    Attributes:
        values: ``[G, P]`` normalised property targets (ignored where not given).
        given: ``[G, P]`` 0/1 flags: which properties each molecule is asked for.
        fragment: a fixed fragment (models trained with ``fragments``), or None. Guidance does
            not act on it: both branches of classifier-free guidance keep it.
    """

    values: torch.Tensor
    given: torch.Tensor
    fragment: FragmentCondition | None = None

    @classmethod
    def none(
        cls, num_graphs: int, num_properties: int, device: torch.device | str = "cpu"
    ) -> MoleculeConditions:
        """Nothing specified (unconditional generation)."""
        zeros = torch.zeros(num_graphs, num_properties, device=device)
        return cls(zeros, zeros)

    def network_input(self) -> torch.Tensor:
        """``[G, 2 P]``: the property values where given (0 elsewhere), then the flags."""
        return torch.cat([self.values * self.given, self.given], -1)

    @property
    def has_guided_parts(self) -> bool:
        """Whether any property is given."""
        return bool(self.given.any())

    def unconditional(self) -> MoleculeConditions:
        """No property given, the same fragment (the reference of classifier-free guidance)."""
        return MoleculeConditions(torch.zeros_like(self.values), torch.zeros_like(self.given), self.fragment)

    def cat(self, other: MoleculeConditions) -> MoleculeConditions:
        if (self.fragment is None) != (other.fragment is None):
            raise ValueError("cannot join a batch with a fragment condition to one without")
        fragment = None if self.fragment is None else self.fragment.cat(other.fragment)
        return MoleculeConditions(
            torch.cat([self.values, other.values]), torch.cat([self.given, other.given]), fragment
        )

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> MoleculeConditions:
        fragment = None if self.fragment is None else self.fragment.to(device, dtype)
        return MoleculeConditions(self.values.to(device, dtype), self.given.to(device, dtype), fragment)
