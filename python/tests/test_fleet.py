"""The fleet client: shards, reproducible rounds, epoch-by-epoch resumption, FedAvg."""

import numpy as np
import pytest

import embedgrad
from embedgrad import digits


def weights_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_shards_partition_the_training_rows():
    x, y = digits.load()
    train, test = digits.split()
    seen = []
    total = 0
    for c in range(10):
        client = digits.FleetClient(c)
        assert client.id() == (c, 10)
        assert client.classes() == sorted({c % 10, (c + 1) % 10, (c + 3) % 10})
        rows = client.row_indices()
        assert len(rows) == client.rows()
        assert set(y[rows]) == set(client.classes())
        total += client.rows()
        seen.extend(rows.tolist())
    assert total == digits.TRAIN
    assert sorted(seen) == sorted(train.tolist())
    assert not set(seen) & set(test.tolist())


def test_clients_start_from_the_global_initial_weights():
    a, b = digits.FleetClient(0), digits.FleetClient(5)
    assert weights_equal(a.get_weights(), b.get_weights())
    assert weights_equal(a.get_weights(), digits.Model(seed=42).get_weights())


def test_fit_is_reproducible():
    start = digits.Model(seed=42).get_weights()
    a, b = digits.FleetClient(2), digits.FleetClient(2)
    a.set_weights(start)
    b.set_weights(start)
    ra, rb = a.fit(3), b.fit(3)
    assert ra == rb
    assert ra["rows"] == a.rows() and ra["steps"] == 5 * -(-a.rows() // 16)
    assert weights_equal(a.get_weights(), b.get_weights())
    assert a.to_safetensors() == b.to_safetensors()
    assert not weights_equal(a.get_weights(), start)
    # Another round shuffles differently.
    b.set_weights(start)
    b.fit(4)
    assert not weights_equal(a.get_weights(), b.get_weights())


def test_fit_equals_fit_epoch_over_each_epoch():
    start = digits.Model(seed=42).get_weights()
    a, b = digits.FleetClient(7), digits.FleetClient(7)
    a.set_weights(start)
    b.set_weights(start)
    summary = a.fit(1, epochs=3, learning_rate=0.02)
    losses, steps = [], 0
    for e in range(3):
        r = b.fit_epoch(1, e, learning_rate=0.02)
        losses.append(r["loss"])
        steps += r["steps"]
    assert weights_equal(a.get_weights(), b.get_weights())
    assert steps == summary["steps"]
    assert summary["loss"] == pytest.approx(np.mean(losses), rel=1e-6)


def test_an_epoch_resumes_after_a_checkpoint():
    start = digits.Model(seed=42).get_weights()
    a = digits.FleetClient(4)
    a.set_weights(start)
    a.fit(0, epochs=2)
    b = digits.FleetClient(4)
    b.set_weights(start)
    b.fit_epoch(0, 0)
    checkpoint = b.to_safetensors()
    c = digits.FleetClient(4)  # a "rebooted" device
    c.load_safetensors(checkpoint)
    c.fit_epoch(0, 1)
    assert weights_equal(a.get_weights(), c.get_weights())


def test_local_training_improves_on_the_shard_and_fedavg_learns():
    clients = [digits.FleetClient(c) for c in range(10)]
    global_w = clients[0].get_weights()
    before = clients[0].evaluate()
    for rnd in range(3):
        results = []
        for c in clients:
            c.set_weights(global_w)
            r = c.fit(rnd)
            assert np.isfinite(r["loss"])
            results.append((c.get_weights(), r["rows"]))
        n = sum(rows for _, rows in results)
        global_w = [
            sum(w[k].astype(np.float64) * rows for w, rows in results) / n for k in range(4)
        ]
    clients[0].set_weights(global_w)
    after = clients[0].evaluate()
    assert after["rows"] == 360
    assert before["accuracy"] < 0.2
    assert after["accuracy"] > 0.8


def test_bad_client_raises_the_rust_message():
    with pytest.raises(embedgrad.EmbedgradError, match="client 10 of 10: argument out of range"):
        digits.FleetClient(10)
    with pytest.raises(embedgrad.EmbedgradError, match="client 0 of 0"):
        digits.FleetClient(0, clients=0)


def test_bad_learning_rate_raises_and_changes_nothing():
    c = digits.FleetClient(1)
    before = c.to_safetensors()
    with pytest.raises(embedgrad.EmbedgradError, match="learning"):
        c.fit(0, learning_rate=float("nan"))
    assert c.to_safetensors() == before
