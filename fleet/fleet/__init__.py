"""The fleet: federated training of embedgrad's digits model through Flower.

``client_app`` trains a client's shard with embedgrad (the same Rust code the firmware runs),
``gateway`` hands a round to the Cortex-M4F firmware in QEMU, ``server_app`` aggregates with
Flower's FedAvg after rejecting malformed replies, and ``task`` holds what both sides share.
"""
