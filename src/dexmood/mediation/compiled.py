"""nutpie's numba model with a compiled form that survives the process (on-disk cache), same draws.

`nutpie.compile_pymc_model` wraps PyTensor's numba functions in two `numba.cfunc` callbacks that numba
cannot cache (they capture the data arrays and use dynamic globals), so every new process spent ≈ 11 s of
type inference and LLVM work on them — most of a fit's time to result (`make bench`). PyTensor's own cache
of the inner function does not help: its key follows the order of a graph rewrite that varies between
processes (measured: 4 different keys in 4 processes for the same model).

Here the two callbacks are generated as source, read the data only through the user-data pointer that
nutpie passes (so `with_data` keeps working), and are cached by numba under a key that is stable across
processes: a structural hash of the model's own graphs (log density and trace variables, before any
rewrite), the parameter layout and the versions of every library that shapes the machine code. Numba's
index adds the CPU. The callbacks compute exactly what nutpie's do: `tests/test_mediation_compiled.py`
checks the draws are identical to `nutpie.compile_pymc_model`'s.

Uses nutpie's internal helpers (`_make_functions`, `make_user_data`, `CompiledPyMCModel`) of the pinned
nutpie; the test above fails if a new nutpie changes them.
"""

from __future__ import annotations

import hashlib
import sys
from importlib.metadata import version

import numba
import numpy as np
from nutpie import compile_pymc as nutpie_pymc
from pymc.initial_point import make_initial_point_fn
from pytensor import config as pytensor_config
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant
from pytensor.link.numba.cache import compile_numba_function_src
from pytensor.link.numba.dispatch.basic import cache_key_for_constant

__all__ = ["compile_model", "model_key"]

#: Libraries whose versions change the generated machine code (part of the cache key).
KEYED_LIBRARIES = ("nutpie", "pymc", "pytensor", "numba", "llvmlite", "numpy")

_POINTER = numba.types.CPointer(numba.types.double)
_LOGP_SIGNATURE = numba.types.int64(numba.types.uint64, _POINTER, _POINTER, _POINTER, numba.types.voidptr)
_EXPAND_SIGNATURE = numba.types.int64(numba.types.uint64, numba.types.uint64, _POINTER, _POINTER,
                                      numba.types.voidptr)

# The return codes are nutpie's (0 ok, 1/-2 an exception, 3/4 a non-finite gradient / density).
_LOGP_SOURCE = """def logp_callback(dim, x_, out_, logp_, user_data_):
    if dim != N_DIM:
        return -1
    try:
        x = numba.carray(x_, (N_DIM,))
        out = numba.carray(out_, (N_DIM,))
        logp = numba.carray(logp_, ())
        UNPACK
        logp_val, grad = inner(x ARGUMENTS)
        logp[()] = logp_val
        out[:] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""

_EXPAND_SOURCE = """def expand_callback(dim, expanded, x_, out_, user_data_):
    if dim != N_DIM:
        return -1
    if expanded != N_EXPANDED:
        return -1
    try:
        x = numba.carray(x_, (N_DIM,))
        out = numba.carray(out_, (N_EXPANDED,))
        UNPACK
        (values,) = inner(x ARGUMENTS)
        out[:] = values
    except Exception:
        return -2
    return 0
"""


def _describe(value) -> str:
    """A text for an Op property that is the same in every process (no memory addresses)."""
    if isinstance(value, str | int | float | bool | type(None) | np.dtype | np.generic):
        return repr(value)
    if isinstance(value, tuple | list):
        return "(" + ",".join(_describe(item) for item in value) + ")"
    if hasattr(value, "items"):
        items = sorted(value.items(), key=lambda item: repr(item[0]))
        return "{" + ",".join(f"{_describe(k)}:{_describe(v)}" for k, v in items) + "}"
    props = getattr(value, "__props__", None)
    if props is not None:
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        return kind + "(" + ",".join(_describe(getattr(value, name)) for name in props) + ")"
    text = repr(value)
    if " at 0x" in text:
        raise ValueError(f"no process-independent description of {text}")
    return f"{type(value).__qualname__}:{text}"


def _graph_key(outputs, inputs) -> str:
    """Structural hash of the graph from `inputs` to `outputs` (independent of object identities)."""
    names = {variable: f"input{i}:{variable.type}" for i, variable in enumerate(inputs)}
    sys.setrecursionlimit(max(20_000, sys.getrecursionlimit()))  # deep PyMC graphs

    def key(variable) -> str:
        if variable in names:
            return names[variable]
        if isinstance(variable, SharedVariable):
            names[variable] = f"data:{variable.name}:{variable.type}"
        elif isinstance(variable, Constant):
            names[variable] = f"constant:{cache_key_for_constant(variable.data)}:{variable.type}"
        elif variable.owner is None:
            names[variable] = f"free:{variable.name}:{variable.type}"
        else:
            node = variable.owner
            text = "|".join([_describe(node.op), *(key(parent) for parent in node.inputs)])
            digest = hashlib.sha256(text.encode()).hexdigest()
            for index, output in enumerate(node.outputs):
                names[output] = f"{digest}:{index}:{output.type}"
        return names[variable]

    return hashlib.sha256("|".join(key(output) for output in outputs).encode()).hexdigest()


def model_key(model) -> str:
    """Key of a PyMC model's log density and trace variables, before PyTensor rewrites them."""
    return _graph_key([model.logp(), *model.unobserved_value_vars], model.value_vars)


def _compile_source(source: str, name: str, environment: dict, key: str):
    """A Python function from `source`, registered with PyTensor's numba cache locator under `key`."""
    versions = ",".join(f"{library}={version(library)}" for library in KEYED_LIBRARIES)
    cache_key = hashlib.sha256("\n".join([source, key, versions]).encode()).hexdigest()
    return compile_numba_function_src(source, name, cache_key=cache_key,
                                      global_env={"__name__": __name__, "numba": numba, "np": np, **environment})


def _extractor(names: list[str], shared_data: dict[str, np.ndarray], record_dtype: np.dtype, cache: bool):
    """An njit function returning the model's data arrays read through nutpie's user-data record."""
    environment = {"record_dtype": record_dtype, "address_as_void_pointer": nutpie_pymc.address_as_void_pointer}
    lines = ["def extract_data(user_data_):",
             "    shared = numba.carray(user_data_, (), record_dtype)['shared']"]
    for index, name in enumerate(names):
        array = shared_data[name]
        environment[f"dtype_{index}"] = np.dtype(array.dtype)
        shape = "".join(f"shared['shape']['{name}'][{axis}], " for axis in range(array.ndim))
        lines.append(f"    array_{index} = numba.carray(address_as_void_pointer(shared['data']['{name}'][()]), "
                     f"int(shared['size']['{name}'][()]), dtype_{index}).reshape(({shape}))")
    lines.append("    return (" + "".join(f"array_{index}, " for index in range(len(names))) + ")")
    source = "\n".join(lines)
    return numba.njit(cache=cache)(_compile_source(source, "extract_data", environment, str(record_dtype.descr)))


def _callback(template: str, name: str, signature, function, shared_data, record_dtype, key: str, sizes: dict):
    """One cached C callback around a compiled PyTensor function (its data unpacked outside `try`-heavy code)."""
    names = [variable.name for variable in function.get_shared()]
    cache = bool(pytensor_config.numba__cache)
    arguments = "".join(f", array_{index}" for index in range(len(names)))
    unpack = (f"({arguments[2:]},) = extract_data(user_data_)" if names else "pass")
    source = (template.replace("UNPACK", unpack).replace(" ARGUMENTS", arguments)
              .replace("N_DIM", str(sizes["n_dim"])).replace("N_EXPANDED", str(sizes["n_expanded"])))
    environment = {"inner": function.vm.jit_fn,
                   "extract_data": _extractor(names, shared_data, record_dtype, cache)}
    python_function = _compile_source(source, name, environment, f"{key}:{record_dtype.descr}")
    return numba.cfunc(signature, cache=cache)(python_function)


def compile_model(model) -> nutpie_pymc.CompiledPyMCModel:
    """What `nutpie.compile_pymc_model(model)` returns (numba backend, default options), its callbacks cached."""
    try:
        key = model_key(model)
    except ValueError:  # an Op this key cannot describe: nutpie's own compile (correct, not cached)
        return nutpie_pymc.compile_pymc_model(model)
    initial_point = nutpie_pymc._wrap_with_lock(make_initial_point_fn(
        model=model, default_strategy="support_point", jitter_rvs=set(model.free_RVs), return_transformed=True))
    n_dim, n_expanded, logp_function, expand_function, initial_point_function, shape_info = (
        nutpie_pymc._make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=True,
                                    pymc_initial_point_fn=initial_point, var_names=None))
    shared_data, shared_variables = {}, {}
    for variable in [*logp_function.get_shared(), *expand_function.get_shared()]:
        shared_data[variable.name] = np.array(variable.get_value(), order="C", copy=True)
        shared_data[variable.name].flags.writeable = False
        shared_variables[variable.name] = variable
    user_data = nutpie_pymc.make_user_data(shared_variables, shared_data)
    sizes = {"n_dim": n_dim, "n_expanded": n_expanded}
    layout = f"{key}:{n_dim}:{n_expanded}:{shape_info}"
    logp_callback = _callback(_LOGP_SOURCE, "logp_callback", _LOGP_SIGNATURE, logp_function, shared_data,
                              user_data.dtype, "logp:" + layout, sizes)
    expand_callback = _callback(_EXPAND_SOURCE, "expand_callback", _EXPAND_SIGNATURE, expand_function,
                                shared_data, user_data.dtype, "expand:" + layout, sizes)
    dims, coords = nutpie_pymc._prepare_dims_and_coords(model, shape_info)
    return nutpie_pymc.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp_callback, compiled_expand_func=expand_callback,
        initial_point_func=initial_point_function, shared_data=shared_data, user_data=user_data,
        n_expanded=n_expanded, shape_info=shape_info, logp_func=logp_function, expand_func=expand_function)
