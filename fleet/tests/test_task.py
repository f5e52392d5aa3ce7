"""The server's checks of a reply, the fault specs and the picture (no Flower run needed)."""

import numpy as np
import pytest

from fleet import gateway, task


def good():
    rng = np.random.default_rng(0)
    return {n: rng.standard_normal(s).astype(np.float32) for n, s in task.TENSORS.items()}


def test_good_weights_pass():
    assert task.check_arrays(good()) is None
    assert task.check_metrics({"num-examples": 431}) is None


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda w: w["0.weight"].__setitem__((3, 7), np.nan), ["'0.weight'", "1 non-finite", "[3, 7]"]),
        (lambda w: w["2.bias"].__setitem__(0, np.inf), ["'2.bias'", "non-finite"]),
        (lambda w: w.__setitem__("2.bias", w["2.bias"][:-1]), ["'2.bias'", "[10]", "[9]"]),
        (lambda w: w.__setitem__("0.bias", w["0.bias"].astype(np.float64)), ["'0.bias'", "float64"]),
        (lambda w: w.pop("2.weight"), ["missing ['2.weight']"]),
        (lambda w: w.__setitem__("extra", np.zeros(1, np.float32)), ["unexpected ['extra']"]),
    ],
)
def test_bad_weights_are_refused_with_the_tensor_and_the_values(change, words):
    w = good()
    change(w)
    problem = task.check_arrays(w)
    assert problem is not None
    for word in words:
        assert word in problem, (word, problem)


@pytest.mark.parametrize("n", [0, -3, float("nan"), None, "12", True])
def test_a_reply_needs_a_positive_row_count(n):
    assert "num-examples" in task.check_metrics({"num-examples": n})


def test_faults_parse_and_select():
    faults = task.parse_faults("drop:2@3, nan:5@4,shape:5@4,cut:1@2")
    assert task.faults_for(faults, 5, 4) == {"nan", "shape"}
    assert task.faults_for(faults, 2, 3) == {"drop"}
    assert task.faults_for(faults, 2, 4) == set()
    assert task.parse_faults("") == []


@pytest.mark.parametrize("spec", ["drop", "drop:x@1", "melt:1@1", "drop:1@0", "drop:-1@2"])
def test_bad_fault_specs_name_the_entry(spec):
    with pytest.raises(ValueError, match="fault"):
        task.parse_faults(spec)


def test_client_ids():
    assert task.parse_ids(" 3, 5 ") == {3, 5}
    with pytest.raises(ValueError, match="'x'"):
        task.parse_ids("3,x")


def test_safetensors_round_trip_and_layout():
    w = good()
    data = gateway.write_safetensors(w)
    n = int.from_bytes(data[:8], "little")
    assert n % 8 == 0 and data[8 + n - 1 : 8 + n] in (b"}", b" ")
    back = gateway.read_safetensors(data)
    assert list(back) == list(w)
    for k in w:
        assert back[k].dtype == np.float32 and np.array_equal(back[k], w[k])
    with pytest.raises(ValueError, match="header"):
        gateway.read_safetensors(data[:20])


def test_the_picture_has_both_curves_and_the_goal():
    svg = task.accuracy_svg([(0, 0.1), (1, 0.6), (2, 0.9)], [(1, 0.95), (2, 0.97)])
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count("<path") == 2 and "goal 95%" in svg
    assert "federated" in svg and "centralised" in svg
