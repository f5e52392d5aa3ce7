"""The package's surface: what it exports, and stubs for all of it."""

import ast
import inspect
import pathlib

import embedgrad
from embedgrad import _native, digits


def test_exports():
    for name in embedgrad.__all__:
        assert hasattr(embedgrad, name)
    for name in digits.__all__:
        assert hasattr(digits, name)
    assert digits.Model is _native.Model and digits.load is _native.digits_load


def test_stubs_cover_the_native_module():
    stub = pathlib.Path(_native.__file__).with_name("_native.pyi")
    if not stub.exists():  # an editable install keeps it beside the sources
        stub = pathlib.Path(embedgrad.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text())
    stubbed = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            stubbed[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)} | {
                n.target.id for n in node.body if isinstance(n, ast.AnnAssign)
            }
        elif isinstance(node, ast.FunctionDef):
            stubbed[node.name] = set()
        elif isinstance(node, ast.AnnAssign):
            stubbed[node.target.id] = set()
    public = [n for n in dir(_native) if not n.startswith("_")]
    for name in public:
        assert name in stubbed, f"{name} has no stub"
        obj = getattr(_native, name)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            methods = {m for m in vars(obj) if not m.startswith("_")}
            missing = methods - stubbed[name]
            assert not missing, f"{name}: no stub for {sorted(missing)}"
