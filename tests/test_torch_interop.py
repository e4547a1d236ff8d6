"""PyTorch interop: Network.to_torch() computes net.forward (≤ 1e-5), Network.from_torch(module)
computes module(x) (≤ 1e-4 in float32), digitnet -> torch -> digitnet is exact, the exported
state-dict file loads into the module that the printed code builds, and every unsupported
module is refused by name.
"""

from __future__ import annotations

import numpy as np
import pytest

import digitnet as dn

torch = pytest.importorskip("torch")
nn = torch.nn
safetensors_torch = pytest.importorskip("safetensors.torch")

from digitnet.interop.torch import save_state_dict, torch_code, torch_state_dict
from digitnet.interop.torch_files import load_state_dict  # noqa: E402

COMBINATIONS = [(hidden, output) for hidden in ("sigmoid", "relu", "tanh", "leaky_relu", "identity")
                for output in ("sigmoid", "softmax", "identity", "relu")]


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    # MNIST-like inputs without reading MNIST: sparse bright pixels in [0, 1].
    rng = np.random.default_rng(0)
    return (rng.random((300, 784)) * (rng.random((300, 784)) < 0.2)).astype(np.float32)


def run(module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("hidden, output", COMBINATIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_torch_computes_forward_and_comes_back_exactly(x, hidden, output, dtype):
    net = dn.Network([784, 20, 12, 10], activation=hidden, output_activation=output, seed=2, dtype=dtype)
    module = net.to_torch()
    assert isinstance(module, nn.Sequential)
    assert np.abs(run(module, x.astype(dtype)) - net.forward(x)).max() <= 1e-5

    back = dn.Network.from_torch(module)
    assert (back.sizes, back.activation, back.output_activation, back.dtype) == (
        net.sizes, net.activation, net.output_activation, net.dtype)
    for ours, theirs in zip(net.parameters(), back.parameters()):
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
    assert np.array_equal(back.forward(x), net.forward(x))


def test_the_sequential_layout_and_state_dict_keys():
    net = dn.Network([784, 16, 16, 10], seed=0)  # the video's: sigmoid everywhere
    module = net.to_torch()
    assert [type(m).__name__ for m in module] == ["Linear", "Sigmoid", "Linear", "Sigmoid", "Linear", "Sigmoid"]
    state = module.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert tuple(state["0.weight"].shape) == (16, 784)  # nn.Linear's (out, in) = digitnet's W
    assert list(torch_state_dict(net)) == list(state)
    for key, array in torch_state_dict(net).items():
        assert np.array_equal(array, state[key].numpy())


def test_identity_output_has_no_module_and_hidden_identity_keeps_the_indices():
    module = dn.Network([6, 5, 4, 3], activation="identity", output_activation="identity", seed=0).to_torch()
    assert [type(m).__name__ for m in module] == ["Linear", "Identity", "Linear", "Identity", "Linear"]
    softmax = dn.Network([6, 5, 3], activation="relu", output_activation="softmax", seed=0).to_torch()
    assert [type(m).__name__ for m in softmax] == ["Linear", "ReLU", "Linear", "Softmax"]
    assert softmax[3].dim == -1


def test_from_torch_matches_a_module_made_in_torch(x):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10),
                           nn.Softmax(dim=1))
    net = dn.Network.from_torch(module)
    assert net.sizes == [784, 32, 32, 10] and (net.activation, net.output_activation) == ("relu", "softmax")
    assert np.abs(net.forward(x) - run(module, x)).max() <= 1e-4


@pytest.mark.parametrize("activation, name", [(nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh"),
                                              (lambda: nn.LeakyReLU(0.01), "leaky_relu"), (nn.Identity, "identity")])
def test_from_torch_each_activation_with_logits_out(x, activation, name):
    torch.manual_seed(1)
    module = nn.Sequential(nn.Linear(784, 24), activation(), nn.Linear(24, 10))  # no output activation
    net = dn.Network.from_torch(module)
    assert (net.activation, net.output_activation) == (name, "identity")
    assert np.abs(net.forward(x) - run(module, x)).max() <= 1e-4


def test_linear_without_bias_linear_after_linear_and_a_leading_flatten(x):
    torch.manual_seed(2)
    module = nn.Sequential(nn.Flatten(), nn.Linear(784, 16, bias=False), nn.Linear(16, 10), nn.Sigmoid())
    net = dn.Network.from_torch(module)
    assert net.activation == "identity" and np.array_equal(net.layers[0].bias, np.zeros(16, np.float32))
    images = torch.from_numpy(x.reshape(-1, 1, 28, 28))  # what the Flatten is for
    with torch.no_grad():
        expected = module(images).numpy()
    assert np.abs(net.forward(x) - expected).max() <= 1e-4


def test_imported_networks_can_be_looked_at_and_saved(tmp_path, x):
    torch.manual_seed(3)
    net = dn.Network.from_torch(nn.Sequential(nn.Linear(784, 16), nn.Tanh(), nn.Linear(16, 10)))
    dn.save(net, tmp_path / "imported.safetensors")
    loaded = dn.load(tmp_path / "imported.safetensors")
    assert np.array_equal(loaded.forward(x), net.forward(x))
    assert loaded.metadata["imported"]["from"] == "torch.nn.Sequential"
    from digitnet import inspection

    assert inspection.weight_image(loaded, 0).shape == (28, 28)


@pytest.mark.parametrize("module, message", [
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5), nn.Linear(3, 2)), r"module 1 \(Dropout\) is not supported"),
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.GELU()), r"module 3 \(GELU\) is not supported"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3)), r"module 0 \(Conv2d\) is not supported"),
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.LeakyReLU(0.2), nn.Linear(3, 2)), r"negative_slope=0.2; digitnet's leaky_relu uses 0.01"),
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1), nn.Linear(3, 2)), r"module 1 \(Softmax\) is not the last module"),
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=0)), r"dim=-1 or dim=1 .*got dim=0"),
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2)),
     r"one activation for every hidden layer; got relu, tanh"),
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Sigmoid()), r"module 2 \(Sigmoid\) follows another activation"),
    (lambda: nn.Sequential(nn.ReLU(), nn.Linear(4, 3)), r"module 0 \(ReLU\) comes before any Linear"),
    (lambda: nn.Sequential(), r"holds no Linear layer"),
    (lambda: nn.Linear(4, 3), r"expected a torch.nn.Sequential .*got Linear"),
    (lambda: nn.Sequential(nn.Linear(4, 3).half()), r"must all be float32 or all float64; got float16"),
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2).double()), r"must all be float32 or all float64; got float32, float64"),
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.Linear(5, 2)), r"Linear layer 1 takes 5 inputs but the layer before gives 3"),
    (lambda: nn.Sequential(nn.Flatten(0), nn.Linear(4, 3)), r"must flatten dims 1..-1"),
])
def test_unsupported_modules_are_named(module, message):
    with pytest.raises(ValueError, match=message):
        dn.Network.from_torch(module())


def test_non_finite_weights_are_refused():
    module = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        module[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="Linear layer 0 holds NaN or infinite values"):
        dn.Network.from_torch(module)


# --------------------------------------------------------------------------- state-dict files
def test_exported_file_loads_into_the_module_the_printed_code_builds(tmp_path, x):
    net = dn.Network([784, 16, 10], activation="leaky_relu", output_activation="softmax", seed=4)
    path = save_state_dict(net, tmp_path / "weights.safetensors")
    namespace: dict = {}
    exec(torch_code(net, path), namespace)  # the lines `digitnet export --format torch` prints
    assert np.abs(run(namespace["model"], x) - net.forward(x)).max() <= 1e-5
    assert set(safetensors_torch.load_file(str(path))) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_a_float64_network_prints_double(tmp_path, x):
    net = dn.Network([784, 8, 10], activation="tanh", seed=0, dtype="float64")
    namespace: dict = {}
    exec(torch_code(net, save_state_dict(net, tmp_path / "w.safetensors")), namespace)
    assert namespace["model"][0].weight.dtype == torch.float64
    assert np.abs(run(namespace["model"], x.astype(np.float64)) - net.forward(x)).max() <= 1e-12


def test_load_state_dict_saved_by_torch(tmp_path, x):
    torch.manual_seed(5)
    module = nn.Sequential(nn.Linear(784, 20), nn.Tanh(), nn.Linear(20, 20), nn.Tanh(), nn.Linear(20, 10))
    path = tmp_path / "torch.safetensors"
    safetensors_torch.save_file(module.state_dict(), str(path))
    net = load_state_dict(path, "tanh", "identity", sizes=[784, 20, 20, 10])
    assert np.abs(net.forward(x) - run(module, x)).max() <= 1e-4
    with pytest.raises(ValueError, match=r"tensors make layers \[784, 20, 20, 10\]; --layers said \[784, 10\]"):
        load_state_dict(path, "tanh", sizes=[784, 10])
    with pytest.raises(ValueError, match="does not record its activations; give the hidden activation"):
        load_state_dict(path)


def test_load_state_dict_defaults_to_what_digitnet_recorded(tmp_path):
    net = dn.Network([784, 16, 10], activation="relu", output_activation="softmax", seed=0)
    back = load_state_dict(save_state_dict(net, tmp_path / "w.safetensors"))
    assert (back.activation, back.output_activation) == ("relu", "softmax")
    assert all(np.array_equal(a, b) for a, b in zip(net.parameters(), back.parameters()))


def test_load_state_dict_bad_files(tmp_path):
    odd = tmp_path / "odd.safetensors"
    safetensors_torch.save_file({"fc.weight": torch.zeros(3, 4)}, str(odd))
    with pytest.raises(ValueError, match=r"unexpected key\(s\) fc.weight; expected an nn.Sequential state dict"):
        load_state_dict(odd, "relu")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="is not a readable safetensors state dict"):
        load_state_dict(junk, "relu")
    with pytest.raises(ValueError, match="no state-dict file at"):
        load_state_dict(tmp_path / "missing.safetensors", "relu")
    with pytest.raises(ValueError, match=r"must end in \.safetensors"):
        save_state_dict(dn.Network([4, 2], seed=0), tmp_path / "w.pt")
