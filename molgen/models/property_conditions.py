"""What a molecule may be conditioned on: target values of molecular properties."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PropertyConditions:
    """Property targets of a batch of ``G`` molecules (the molecule domain's conditioning).

    Attributes:
        values: ``[G, P]`` normalised target values (ignored where not given).
        given: ``[G, P]`` 0/1 flags: which properties each molecule is asked for.
    """

    values: torch.Tensor
    given: torch.Tensor

    @classmethod
    def none(
        cls, num_graphs: int, num_properties: int, device: torch.device | str = "cpu"
    ) -> PropertyConditions:
        """Nothing specified (unconditional generation)."""
        zeros = torch.zeros(num_graphs, num_properties, device=device)
        return cls(zeros, zeros)

    def network_input(self) -> torch.Tensor:
        """``[G, 2 P]``: the values where given (0 elsewhere), then the flags."""
        return torch.cat([self.values * self.given, self.given], -1)

    @property
    def has_guided_parts(self) -> bool:
        """Whether any property is given."""
        return bool(self.given.any())

    def unconditional(self) -> PropertyConditions:
        """No property given (the reference of classifier-free guidance)."""
        return PropertyConditions(torch.zeros_like(self.values), torch.zeros_like(self.given))

    def cat(self, other: PropertyConditions) -> PropertyConditions:
        return PropertyConditions(
            torch.cat([self.values, other.values]), torch.cat([self.given, other.given])
        )

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> PropertyConditions:
        return PropertyConditions(self.values.to(device, dtype), self.given.to(device, dtype))
