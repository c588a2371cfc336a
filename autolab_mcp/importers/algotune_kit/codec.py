"""Problems and solutions of AlgoTune tasks as files: a typed JSON codec, never pickle.

AlgoTune passes Python objects between generate_problem, solve and is_solution in one process; we
pass them between the scorer and sandboxes, where one side is untrusted, so unpickling is out (it
runs code). Every value becomes JSON, with a one-key tagged object for what JSON lacks: tuples, sets,
dicts with non-string keys, bytes, complex numbers, non-finite floats, numpy arrays and scalars
(`.npy` bytes read with allow_pickle=False) and scipy sparse matrices (their arrays). Anything else
is a CodecError naming its type, so a task whose values do not fit is found at import time.

This file is copied into every imported AlgoTune task (the solver's runner imports it in the sandbox,
the scorer loads the pristine copy), so it depends on nothing but the standard library, numpy and,
for sparse matrices only, scipy.
"""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

import numpy as np

__all__ = ["CodecError", "decode", "dumps", "encode", "loads"]

_TAG = "__algotune__"


class CodecError(ValueError):
    """A value the codec cannot carry, or a document it cannot read; the message says which."""


def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _from_npy(text: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise CodecError(f"a numpy array that does not read as .npy: {exc}") from None


def _tagged(kind: str, value: Any) -> dict[str, Any]:
    return {_TAG: kind, "v": value}


def _sparse(value: Any) -> dict[str, Any] | None:
    """A scipy sparse matrix or array as its format and arrays; None for anything else."""
    try:
        import scipy.sparse as sp
    except ImportError:
        return None
    if not sp.issparse(value):
        return None
    fmt = value.format
    if fmt in ("csr", "csc"):
        parts = {"data": value.data, "indices": value.indices, "indptr": value.indptr}
    else:
        coo = value.tocoo()
        parts = {"data": coo.data, "row": coo.row, "col": coo.col}
    return _tagged("sparse", {"format": fmt, "shape": list(value.shape), "array": not sp.isspmatrix(value),
                              **{k: _npy(np.asarray(v)) for k, v in parts.items()}})


def _encode_numpy(value: np.ndarray | np.generic) -> dict[str, Any]:
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return _tagged("objarray", {"shape": list(value.shape), "items": [encode(v) for v in value.ravel()]})
        return _tagged("ndarray", _npy(value))
    if value.dtype.hasobject:
        raise CodecError("a numpy object scalar cannot be carried")
    return _tagged("npscalar", _npy(np.asarray(value)))


def _encode_container(value: Any) -> Any:
    """Lists, tuples, sets and dicts, or None for anything else."""
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return _tagged("tuple", [encode(v) for v in value])
    if isinstance(value, set | frozenset):
        return _tagged("frozenset" if isinstance(value, frozenset) else "set", [encode(v) for v in value])
    if isinstance(value, dict):
        if all(isinstance(k, str) and k != _TAG for k in value):
            return {k: encode(v) for k, v in value.items()}
        return _tagged("dict", [[encode(k), encode(v)] for k, v in value.items()])
    return None


def encode(value: Any) -> Any:
    """`value` as plain JSON data (dicts, lists, str, int, float, bool, None)."""
    if value is None or isinstance(value, bool | str) or type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else _tagged("float", repr(value))
    if isinstance(value, np.ndarray | np.generic):  # before complex: numpy's complex128 is a complex too
        return _encode_numpy(value)
    if isinstance(value, complex):
        return _tagged("complex", [encode(value.real), encode(value.imag)])
    if isinstance(value, bytes | bytearray | memoryview):
        return _tagged("bytes", base64.b64encode(bytes(value)).decode("ascii"))
    found = _sparse(value)  # before dict: a dok matrix is a dict
    if found is None:
        found = _encode_container(value)
    if found is not None:
        return found
    raise CodecError(f"a value of type {type(value).__module__}.{type(value).__qualname__} cannot be carried "
                     "(allowed: JSON types, tuple, set, dict, bytes, complex, numpy arrays and scalars, "
                     "scipy sparse matrices)")


def _decode_sparse(spec: dict[str, Any]) -> Any:
    import scipy.sparse as sp

    arrays = {k: _from_npy(v) for k, v in spec.items() if k not in ("format", "shape", "array")}
    shape = tuple(spec["shape"])
    fmt = spec["format"]
    if fmt in ("csr", "csc"):
        kind = {"csr": sp.csr_array if spec["array"] else sp.csr_matrix,
                "csc": sp.csc_array if spec["array"] else sp.csc_matrix}[fmt]
        return kind((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
    coo = (sp.coo_array if spec["array"] else sp.coo_matrix)((arrays["data"], (arrays["row"], arrays["col"])),
                                                              shape=shape)
    return coo.asformat(fmt)


def _objarray(value: dict[str, Any]) -> np.ndarray:
    items = np.empty(len(value["items"]), dtype=object)
    items[:] = [decode(v) for v in value["items"]]
    return items.reshape(value["shape"])


_DECODERS: dict[str, Any] = {
    "float": float,
    "complex": lambda v: complex(decode(v[0]), decode(v[1])),
    "bytes": lambda v: base64.b64decode(v, validate=True),
    "ndarray": _from_npy,
    "npscalar": lambda v: _from_npy(v)[()],
    "objarray": _objarray,
    "tuple": lambda v: tuple(decode(x) for x in v),
    "set": lambda v: {decode(x) for x in v},
    "frozenset": lambda v: frozenset(decode(x) for x in v),
    "dict": lambda v: {decode(k): decode(x) for k, x in v},
    "sparse": lambda v: _decode_sparse(v),
}


def decode(data: Any) -> Any:
    """The value `encode` made `data` from."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if _TAG not in data:
        return {k: decode(v) for k, v in data.items()}
    kind = data.get(_TAG)
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decoder is None:
        raise CodecError(f"an unknown tag {str(kind)[:40]!r}")
    try:
        return decoder(data.get("v"))
    except CodecError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise CodecError(f"a malformed {kind!r} value: {type(exc).__name__}") from None


def dumps(value: Any) -> bytes:
    """`value` as UTF-8 JSON bytes."""
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False).encode("utf-8")


def loads(data: bytes, max_bytes: int = 1 << 30) -> Any:
    """The value in `data` (from `dumps`); CodecError for anything else, oversized or not JSON."""
    if len(data) > max_bytes:
        raise CodecError(f"the document is over {max_bytes} bytes")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CodecError(f"not a JSON document: {type(exc).__name__}") from None
    return decode(document)
