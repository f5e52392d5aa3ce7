"""The UCI handwritten digits and the 64-32-10 network of ``embedgrad-data``.

``load()`` gives the 1,797 images as float32 features in ``[0, 1]`` (``[1797, 64]``) and their
int64 labels; ``split()`` the crate's fixed ``(train_idx, test_idx)`` split (1,437 / 360 rows).
``Model`` trains with the crate's ``Trainer`` and ``RECIPE`` (Adam, cosine schedule, 20
epochs of 16-row batches); ``FleetClient`` is one device of the federated fleet.
Weights are four float32 arrays in PyTorch's layout, named as the state dict of
``nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))``.
"""

from ._native import DIGITS_BATCH as BATCH
from ._native import DIGITS_CLASSES as CLASSES
from ._native import DIGITS_EPOCHS as EPOCHS
from ._native import DIGITS_FEATURES as FEATURES
from ._native import DIGITS_SAMPLES as SAMPLES
from ._native import DIGITS_TEST as TEST
from ._native import DIGITS_TRAIN as TRAIN
from ._native import FleetClient, Model
from ._native import digits_load as load
from ._native import digits_split as split

__all__ = [
    "BATCH",
    "CLASSES",
    "EPOCHS",
    "FEATURES",
    "SAMPLES",
    "TEST",
    "TRAIN",
    "FleetClient",
    "Model",
    "load",
    "split",
]
