"""The week's scratch: masks and subsets that one weekly process leaves for the next.

Nothing here outlives the week except :attr:`Scratch.exited`, which the week's exits leave for
next week's inflow. The arrays are allocated once per batch and overwritten in place each week;
which process writes and which reads each one is the contract of the processes
(docs/design.md, "The weekly processes and their contracts").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streetlevel.model.state import Subset

__all__ = ["Scratch"]


@dataclass
class Scratch:
    """The week's masks (replications x slots) and subsets, in the order the week sets them.

    Attributes:
        receiving: who is receiving (not sanctioned), set by meetings, read by attendance.
        obligated: the held meetings (meetings), then all obligations, then this week's
            absences (attendance overwrites it in place).
        uniform: this week's one uniform per client, shared by attendance and exits.
        offer_active: who has an active offer this week (attendance), read by routing.
        absent: this week's absences (attendance), decided on by routing.
        new_sanctions: the sanctions routing decided, imposed by sanctions.
        sanctioned: who is sanctioned, from sanctions until the end of the week (read by exits).
        leaving: who leaves this week (exits).
        exited: the slots this week's exits left, which next week's inflow fills.
    """

    receiving: npt.NDArray[np.bool_]
    obligated: npt.NDArray[np.bool_]
    uniform: npt.NDArray[np.float32]
    offer_active: npt.NDArray[np.bool_]
    absent: Subset
    new_sanctions: Subset
    sanctioned: npt.NDArray[np.bool_]
    leaving: npt.NDArray[np.bool_]
    exited: Subset

    @classmethod
    def empty(cls, replications: int, slots: int) -> Scratch:
        """Scratch for a batch: false masks and empty subsets."""
        shape = (replications, slots)
        nobody = Subset.of(np.zeros(shape, dtype=bool))
        return cls(
            receiving=np.zeros(shape, dtype=bool),
            obligated=np.zeros(shape, dtype=bool),
            uniform=np.empty(shape, dtype=np.float32),
            offer_active=np.zeros(shape, dtype=bool),
            absent=nobody,
            new_sanctions=nobody,
            sanctioned=np.zeros(shape, dtype=bool),
            leaving=np.zeros(shape, dtype=bool),
            exited=nobody,
        )

    def nbytes(self) -> int:
        """Memory held by the week's arrays (the subsets are small and come and go)."""
        arrays = (self.receiving, self.obligated, self.uniform, self.offer_active)
        return sum(a.nbytes for a in (*arrays, self.sanctioned, self.leaving))
