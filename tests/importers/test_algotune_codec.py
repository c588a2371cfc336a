"""The AlgoTune codec: every kind of value AlgoTune's 124 tasks pass (sparse matrices in 14, complex
numbers in 17, bytes in 5, numpy everywhere) survives the file round trip with its type; nothing is
ever unpickled; what does not fit, or a hostile document, is a CodecError that says what."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autolab_mcp.importers.algotune_kit.codec import CodecError, dumps, loads


def same(a, b) -> bool:
    """Equal with the same types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and (
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc") if not a.dtype.hasobject
            else all(same(x, y) for x, y in zip(a.ravel(), b.ravel(), strict=True)))
    if sp.issparse(a):
        return a.format == b.format and a.shape == b.shape and a.dtype == b.dtype and (a != b).nnz == 0
    if isinstance(a, float | np.floating):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, complex | np.complexfloating):
        return same(float(a.real), float(b.real)) and same(float(a.imag), float(b.imag))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def round_trip(value):
    back = loads(dumps(value))
    assert same(value, back), (value, back)
    return back


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.binary(max_size=40), st.complex_numbers(allow_nan=False),
)
keys = st.one_of(st.text(max_size=8), st.integers(), st.tuples(st.integers(), st.integers()))
arrays = hnp.arrays(dtype=st.one_of(hnp.integer_dtypes(), hnp.floating_dtypes(), hnp.complex_number_dtypes(),
                                    hnp.boolean_dtypes()),
                    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
values = st.recursive(st.one_of(scalars, arrays), lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(keys, inner, max_size=4),
    st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_nesting_of_the_supported_types_round_trips_with_its_types(value):
    round_trip(value)


def test_numpy_scalars_sets_and_the_tag_itself_keep_their_types():
    for value in (np.float64(1.5), np.int32(-7), np.complex128(1 - 2j), np.bool_(True), np.float32("nan"),
                  {1, 2, 3}, frozenset({"a"}), {"__algotune__": "tuple", "v": [1]}, [float("inf"), -0.0],
                  np.array(["a", "bc"]), np.array([[1, "x"], [None, 2.5]], dtype=object)):
        back = round_trip(value)
        if isinstance(value, set | frozenset):
            assert back == value and type(back) is type(value)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok", "bsr", "dia"])
@pytest.mark.parametrize("kind", ["matrix", "array"])
def test_sparse_matrices_and_arrays_keep_format_shape_and_dtype(fmt, kind):
    rng = np.random.default_rng(3)
    dense = np.where(rng.random((6, 9)) < 0.3, rng.standard_normal((6, 9)) + 1j * rng.standard_normal((6, 9)), 0)
    make = sp.csr_matrix if kind == "matrix" else sp.csr_array
    value = make(dense).asformat(fmt)
    back = round_trip(value)
    assert sp.isspmatrix(back) == (kind == "matrix")
    assert np.array_equal(back.toarray(), dense)


def test_what_cannot_be_carried_is_named_and_nothing_is_unpickled():
    class Opaque:
        pass

    with pytest.raises(CodecError, match=r"test_algotune_codec.*Opaque cannot be carried"):
        dumps({"x": [Opaque()]})
    # an object array written with pickle inside the .npy: refused, never loaded
    import base64
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"pickled": True}], dtype=object), allow_pickle=True)
    payload = base64.b64encode(buffer.getvalue()).decode()
    hostile = f'{{"__algotune__": "ndarray", "v": "{payload}"}}'.encode()
    with pytest.raises(CodecError, match=r"does not read as \.npy"):
        loads(hostile)


@pytest.mark.parametrize("document", [
    b"\xff\xfe", b"{", b'{"__algotune__": "nonsense", "v": 1}', b'{"__algotune__": "complex", "v": 3}',
    b'{"__algotune__": "bytes", "v": "***"}', b'{"__algotune__": "sparse", "v": {"format": "csr"}}',
    b"[" * 100_000 + b"]" * 100_000,
])
def test_a_malformed_document_is_a_codec_error(document):
    with pytest.raises(CodecError):
        loads(document)


def test_an_oversized_document_is_refused_before_parsing():
    with pytest.raises(CodecError, match="over 10 bytes"):
        loads(b"[1, 2, 3, 4, 5, 6]", max_bytes=10)
