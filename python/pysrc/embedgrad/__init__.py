"""embedgrad from Python: the same Rust code that trains on microcontrollers, numpy in and out.

* ``embedgrad.digits`` — the 64-32-10 digits model (``Model``), its fleet clients
  (``FleetClient``), the data (``load``) and the fixed split (``split``).
* ``embedgrad.Graph`` — a generic f64 graph of the standard ops with ``Node`` handles, and the
  optimizers ``GradientDescent``, ``Momentum`` and ``Adam``.
* ``embedgrad.EmbedgradError`` (a ``ValueError``) — every error of the Rust code, with its
  message.
"""

from ._native import (
    Adam,
    EmbedgradError,
    GradientDescent,
    Graph,
    Momentum,
    Node,
)
from . import digits

__all__ = [
    "Adam",
    "EmbedgradError",
    "GradientDescent",
    "Graph",
    "Momentum",
    "Node",
    "digits",
]
