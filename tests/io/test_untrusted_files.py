"""Files we did not write (issue 11): every reader answers a corrupt or hostile file with one line.

For each reader (PairsFile, the official dSprites and 3D Shapes readers, load_array for .npy, .npz
and .h5) a table of corrupt variants, each with the fragment its error must contain. Every error
must be an InputError, one line, naming the file. Fixtures are tiny and written here.
"""

from __future__ import annotations

import copy
import io
import json
import os
import struct
import zipfile

import h5py
import numpy as np
import pytest
import torch

from mmphase_bench.cli.main import main
from mmphase_bench.data import dsprites, shapes3d
from mmphase_bench.data.dsprites import OfficialDSprites
from mmphase_bench.data.pairs_file import FORMAT, FORMAT_VERSION, HASH_ATTRIBUTE, PairsFile, data_digest
from mmphase_bench.data.shapes3d import OfficialShapes3D
from mmphase_bench.errors import InputError
from mmphase_bench.io.arrays import ArrayFileError, load_array
from mmphase_bench.io.npz import NpzArchive


def assert_one_line(error: BaseException, path, fragment: str) -> None:
    assert isinstance(error, InputError), type(error)
    message = str(error)
    assert "\n" not in message, message
    assert os.path.basename(str(path)) in message, message
    assert fragment in message, message


def expect(path, fragment, call):
    with pytest.raises(InputError) as info:
        call(path)
    assert_one_line(info.value, path, fragment)


# --------------------------------------------------------------------------- hostile HDF5 nodes
def write_dangerous(handle, name, data, kind, folder):
    """Create ``name`` in ``handle`` so that reading it would read another file (or loop)."""
    data = np.asarray(data)
    other = folder / f"other-{name.replace('/', '-')}.h5"
    if kind in ("external link", "soft link out", "virtual"):
        with h5py.File(other, "w") as source:
            source.create_dataset("data", data=data)
    if kind == "external storage":
        raw = folder / f"raw-{name.replace('/', '-')}.bin"
        raw.write_bytes(data.tobytes())
        handle.create_dataset(name, shape=data.shape, dtype=data.dtype, external=[(str(raw), 0, data.nbytes)])
    elif kind == "external link":
        handle[name] = h5py.ExternalLink(str(other), "/data")
    elif kind == "soft link out":
        handle["elsewhere"] = h5py.ExternalLink(str(other), "/data")
        handle[name] = h5py.SoftLink("/elsewhere")
    elif kind == "soft link loop":
        handle[name] = h5py.SoftLink("/" + name)
    elif kind == "virtual":
        layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
        layout[...] = h5py.VirtualSource(str(other), "data", shape=data.shape)
        handle.create_virtual_dataset(name, layout)
    elif kind == "structured":
        records = np.zeros(data.shape[:1], dtype=[("a", "f8"), ("b", "i4")])
        handle.create_dataset(name, data=records)
    elif kind == "strings":
        handle.create_dataset(name, data=np.array(["a"] * len(data), dtype=object), dtype=h5py.string_dtype())
    else:
        raise AssertionError(kind)


DANGERS = [
    ("external storage", "external files"),
    ("external link", "external link"),
    ("soft link out", "external link"),
    ("soft link loop", "soft links (a loop?)"),
    ("virtual", "virtual dataset"),
]


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# --------------------------------------------------------------------------- pairs files
N = 4
CLASSES = ["square", "ellipse", "heart"]


def pairs_arrays():
    rng = np.random.default_rng(0)
    return {
        "x": rng.random((N, 1, 4, 4)).astype(np.float32),
        "y": rng.random((N, 1, 4, 4)).astype(np.float32),
        "label": np.array([0, 1, 2, 1], dtype=np.int64),
        "latents/position": rng.random((N, 2)),
    }


def pairs_attrs():
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": "f" * 16,
        "description": json.dumps({"dataset": "fixture"}), "package_version": "0", "dtype": "float32",
        "class_names": json.dumps(CLASSES), "n": N, "completed": N,
    }


def write_pairs(path, *, arrays=None, attrs=None, drop=(), danger=None, rehash=True):
    arrays = pairs_arrays() if arrays is None else arrays
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            if danger is not None and danger[0] == key:
                write_dangerous(handle, key, value, danger[1], path.parent)
            else:
                handle.create_dataset(key, data=value)
        handle.attrs.update({k: v for k, v in (attrs or pairs_attrs()).items() if k not in drop})
        if rehash and danger is None:
            nodes = {key: handle[key] for key in arrays}
            handle.attrs[HASH_ATTRIBUTE] = data_digest(nodes, str(path))
    return path


def with_arrays(**changes):
    arrays = pairs_arrays()
    for key, value in changes.items():
        arrays[key.replace("__", "/")] = value(arrays[key.replace("__", "/")]) if callable(value) else value
    return arrays


def with_attrs(**changes):
    attrs = pairs_attrs()
    attrs.update(changes)
    return attrs


def _set(array, index, value):
    array = array.copy()
    array[index] = value
    return array


def _flip_byte(path):
    """Change one stored pixel of x behind the hash's back."""
    with h5py.File(path, "r+") as handle:
        handle["x"][1, 0, 2, 2] = np.float32(0.125) if handle["x"][1, 0, 2, 2] != np.float32(0.125) else np.float32(0.25)
    return path


PAIRS_CASES = {
    "0-byte": (lambda p: (p.write_bytes(b""), p)[1], "empty"),
    "truncated": (lambda p: truncate(write_pairs(p)), "HDF5"),
    "not hdf5": (lambda p: (p.write_text("hello\n"), p)[1], "HDF5"),
    "missing x": (lambda p: write_pairs(p, arrays={k: v for k, v in pairs_arrays().items() if k != "x"}, rehash=False), "missing dataset /x"),
    "missing attr n": (lambda p: write_pairs(p, drop=("n",)), "missing attribute 'n'"),
    "missing attr dtype": (lambda p: write_pairs(p, drop=("dtype",)), "missing attribute 'dtype'"),
    "missing attr fingerprint": (lambda p: write_pairs(p, drop=("fingerprint",)), "missing attribute 'fingerprint'"),
    "missing attr class_names": (lambda p: write_pairs(p, drop=("class_names",)), "missing attribute 'class_names'"),
    "missing attr description": (lambda p: write_pairs(p, drop=("description",)), "missing attribute 'description'"),
    "n not an integer": (lambda p: write_pairs(p, attrs=with_attrs(n="four")), "'n' must be a non-negative integer"),
    "class_names not JSON": (lambda p: write_pairs(p, attrs=with_attrs(class_names="[square")), "not valid JSON"),
    "class_names empty": (lambda p: write_pairs(p, attrs=with_attrs(class_names="[]")), "class_names"),
    "description a list": (lambda p: write_pairs(p, attrs=with_attrs(description="[1]")), "JSON object"),
    "wrong dtype": (lambda p: write_pairs(p, arrays=with_arrays(x=lambda a: a.astype(np.float64))), "unexpected dtypes"),
    "wrong shape": (lambda p: write_pairs(p, arrays=with_arrays(y=lambda a: a[:, :, :2])), "inconsistent shapes"),
    "structured label": (lambda p: write_pairs(p, danger=("label", "structured")), "structured"),
    "string latent": (lambda p: write_pairs(p, danger=("latents/position", "strings")), "object"),
    "NaN pixel": (lambda p: write_pairs(p, arrays=with_arrays(x=lambda a: _set(a, (2, 0, 1, 1), np.nan))), "NaN or infinite pixels"),
    "pixel above 1": (lambda p: write_pairs(p, arrays=with_arrays(y=lambda a: _set(a, (0, 0, 0, 0), 1.5))), "outside [0, 1]"),
    "label 99": (lambda p: write_pairs(p, arrays=with_arrays(label=lambda a: _set(a, 2, 99))), "holds 99, outside 0..2"),
    "label -7": (lambda p: write_pairs(p, arrays=with_arrays(label=lambda a: _set(a, 0, -7))), "holds -7, outside 0..2"),
    "NaN latent": (lambda p: write_pairs(p, arrays=with_arrays(latents__position=lambda a: _set(a, (1, 1), np.nan))), "NaN"),
    "bit flip": (lambda p: _flip_byte(write_pairs(p)), "do not match the stored SHA-256"),
    "no stored hash": (lambda p: write_pairs(p, rehash=False), "no stored data hash"),
    **{f"x {kind}": ((lambda kind: lambda p: write_pairs(p, danger=("x", kind)))(kind), fragment) for kind, fragment in DANGERS},
    "latent external link": (lambda p: write_pairs(p, danger=("latents/position", "external link")), "external link"),
    "label virtual": (lambda p: write_pairs(p, danger=("label", "virtual")), "virtual dataset"),
}


@pytest.mark.parametrize("case", sorted(PAIRS_CASES))
def test_pairs_file_refuses(tmp_path, case):
    make, fragment = PAIRS_CASES[case]
    path = make(tmp_path / "pairs.h5")
    expect(path, fragment, PairsFile)


def test_pairs_fixture_itself_is_valid(tmp_path):
    path = write_pairs(tmp_path / "pairs.h5")
    with PairsFile(path) as pairs:
        x, y, label = pairs.read()
        assert torch.equal(x, torch.from_numpy(pairs_arrays()["x"]))
        assert label.tolist() == [0, 1, 2, 1]
        assert pairs.class_names == tuple(CLASSES)
    assert pairs._handle is None  # closed by the with block


def test_pairs_soft_link_inside_the_file_is_followed(tmp_path):
    path = tmp_path / "pairs.h5"
    arrays = pairs_arrays()
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle.create_dataset("stored/" + key if key == "x" else key, data=value)
        handle["x"] = h5py.SoftLink("/stored/x")
        handle.attrs.update(pairs_attrs())
        handle.attrs[HASH_ATTRIBUTE] = data_digest({key: handle[key] for key in arrays}, str(path))
    x, _, _ = PairsFile(path).read()
    assert torch.equal(x, torch.from_numpy(arrays["x"]))


def test_pairs_external_storage_never_reaches_the_outside_bytes(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 8)
    path = tmp_path / "pairs.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("x", shape=(N, 1, 4, 4), dtype=np.uint8, external=[(str(secret), 0, N * 16)])
        for key in ("y", "label"):
            handle.create_dataset(key, data=pairs_arrays()[key].astype(np.uint8) if key == "y" else pairs_arrays()[key])
        handle.attrs.update(with_attrs(dtype="uint8"))
    expect(path, "external files", lambda p: PairsFile(p, verify=False))


def test_pairs_old_file_without_hash_reads_with_verify_false(tmp_path):
    path = write_pairs(tmp_path / "old.h5", rehash=False)
    pairs = PairsFile(path, verify=False)
    assert len(pairs) == N


def test_pairs_bad_pixels_are_caught_on_read_without_verify(tmp_path):
    path = write_pairs(tmp_path / "nan.h5", arrays=with_arrays(x=lambda a: _set(a, (2, 0, 1, 1), np.nan)))
    pairs = PairsFile(path, verify=False)
    xi, _, _ = pairs[1]  # a clean row reads
    assert torch.isfinite(xi).all()
    for call in (lambda p: pairs[2], lambda p: pairs.read(), lambda p: pairs.read(2, 3)):
        expect(path, "NaN or infinite pixels", call)


def test_pairs_reopens_per_process_and_after_pickle(tmp_path):
    path = write_pairs(tmp_path / "pairs.h5")
    pairs = PairsFile(path)
    first = pairs[0][0]
    handle = pairs._file()
    assert pairs._file() is handle  # one handle, kept
    clone = copy.copy(pairs)  # the __getstate__/__setstate__ round trip pickling uses (no unpickling)
    assert clone._handle is None and torch.equal(clone[0][0], first)
    pairs._pid = -1  # as in a forked DataLoader worker: the inherited handle is not used
    assert pairs._file() is not handle and pairs._pid == os.getpid()
    pairs.close()
    assert pairs._handle is None and torch.equal(pairs[0][0], first)  # reopens after close


def test_pairs_with_dataloader_workers(tmp_path):
    path = write_pairs(tmp_path / "pairs.h5")
    pairs = PairsFile(path)
    pairs[0]  # the parent has opened its handle before the workers start
    loader = torch.utils.data.DataLoader(pairs, batch_size=2, num_workers=2)
    xs = torch.cat([x for x, _, _ in loader])
    assert torch.equal(xs, torch.from_numpy(pairs_arrays()["x"]))


# --------------------------------------------------------------------------- official dSprites
TEMPLATES = np.array([[0, s, 5, 0, 16, 16] for s in range(3)] + [[0, 1, 0, 3, 4, 5]], dtype=np.int64)


def dsprites_arrays(classes=TEMPLATES):
    images = np.zeros((len(classes), 64, 64), dtype=np.uint8)
    for i in range(len(classes)):
        images[i, 20 + i:30 + i, 18:30] = 1
    values = dsprites.classes_to_values(classes)
    return {"imgs": images, "latents_values": values, "latents_classes": classes,
            "metadata": np.array({"pickled": True}, dtype=object)}


def write_dsprites(path, *, compressed=False, **changes):
    arrays = dsprites_arrays()
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value(arrays[key]) if callable(value) else value
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def write_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def truncated_member(path, key, arrays):
    members = {f"{k}.npy": npy_bytes(v) for k, v in arrays.items() if k != "metadata"}
    members[f"{key}.npy"] = members[f"{key}.npy"][:-100]
    return write_zip(path, members)


def corrupt_compressed_member(path, key, *, near_end=True):
    """Flip a byte of the compressed data of ``key`` (the archive stays a valid zip)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(key + ".npy")
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<2H", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length
    data[start + (info.compress_size - 3 if near_end else info.compress_size // 2)] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


RANDOM_BINARY = np.random.default_rng(2).integers(0, 2, size=(4, 64, 64)).astype(np.uint8)

DSPRITES_CASES = {
    "0-byte": (lambda p: (p.write_bytes(b""), p)[1], "empty"),
    "truncated file": (lambda p: truncate(write_dsprites(p)), "not a readable .npz"),
    "truncated compressed file": (lambda p: truncate(write_dsprites(p, compressed=True), 0.9), "not a readable .npz"),
    "truncated imgs member": (lambda p: truncated_member(p, "imgs", dsprites_arrays()), "imgs is truncated"),
    "truncated classes member": (lambda p: truncated_member(p, "latents_classes", dsprites_arrays()), "latents_classes is truncated"),
    "corrupt compressed imgs header": (
        lambda p: corrupt_compressed_member(write_dsprites(p, compressed=True), "imgs", near_end=False), "imgs is not a valid .npy array"),
    "corrupt compressed imgs data": (
        lambda p: corrupt_compressed_member(write_dsprites(p, compressed=True, imgs=RANDOM_BINARY), "imgs", near_end=False), "imgs is damaged"),
    "missing key": (lambda p: write_dsprites(p, latents_classes=None), "missing latents_classes"),
    "wrong dtype": (lambda p: write_dsprites(p, imgs=lambda a: a.astype(np.float32)), "imgs must be uint8"),
    "wrong shape": (lambda p: write_dsprites(p, imgs=lambda a: a[:, :32]), "imgs must be uint8 (N, 64, 64)"),
    "object imgs": (lambda p: write_dsprites(p, imgs=np.array([None] * 4, dtype=object)), "Python objects"),
    "structured values": (lambda p: write_dsprites(p, latents_values=np.zeros(4, dtype=[("a", "f8")])), "non-numeric dtype"),
    "NaN values": (lambda p: write_dsprites(p, latents_values=lambda a: _set(a, (1, 2), np.nan)), "do not match the dSprites factor grid"),
    "class 99": (lambda p: write_dsprites(p, latents_classes=lambda a: _set(a, (3, 4), 99)), "out of range"),
    "class -7": (lambda p: write_dsprites(p, latents_classes=lambda a: _set(a, (3, 2), -7)), "out of range"),
    "non-binary pixel": (lambda p: write_dsprites(p, imgs=lambda a: _set(a, (3, 5, 5), 7)), "binary"),
    "non-binary compressed": (lambda p: write_dsprites(p, compressed=True, imgs=lambda a: _set(a, (3, 5, 5), 7)), "binary"),
    "fortran imgs": (lambda p: write_dsprites(p, imgs=np.asfortranarray), "Fortran order"),
}


@pytest.mark.parametrize("case", sorted(DSPRITES_CASES))
def test_official_dsprites_refuses(tmp_path, case):
    make, fragment = DSPRITES_CASES[case]
    path = make(tmp_path / "dsprites.npz")
    expect(path, fragment, OfficialDSprites)


@pytest.mark.parametrize("compressed", [False, True])
def test_official_dsprites_reads_lazily(tmp_path, monkeypatch, compressed):
    path = write_dsprites(tmp_path / "dsprites.npz", compressed=compressed)
    read_keys = []
    original = NpzArchive.read
    monkeypatch.setattr(NpzArchive, "read", lambda self, key, **kw: (read_keys.append(key), original(self, key, **kw))[1])
    reader = OfficialDSprites(path)
    templates = [reader.canonical_image(s) for s in range(3)]
    assert all(t.sum() > 0 for t in templates)
    assert read_keys == ["latents_values", "latents_classes"]  # imgs never loaded whole, metadata never opened
    if not compressed:
        assert isinstance(reader._images, np.memmap)
    arrays = dsprites_arrays()
    index = dsprites.classes_to_index(TEMPLATES[[3, 0]])
    assert np.array_equal(reader.images(index), arrays["imgs"][[3, 0]])  # row 3 is not a template
    assert read_keys[2:] == ([] if not compressed else ["imgs"])
    with reader:
        pass
    assert reader._images is None
    assert np.array_equal(reader.images(index), arrays["imgs"][[3, 0]])  # remade on demand
    assert copy.copy(reader)._images is None  # what pickling would send: no images


def test_official_dsprites_partial_file_without_templates(tmp_path):
    classes = TEMPLATES[[0, 3]]
    arrays = dsprites_arrays(classes)
    path = tmp_path / "partial.npz"
    np.savez(path, **arrays)
    reader = OfficialDSprites(path)  # a partial file opens
    reader.canonical_image(0)
    expect(path, "template of shape ellipse", lambda p: reader.canonical_image(1))


# --------------------------------------------------------------------------- official 3D Shapes
SHAPES_CLASSES = np.array([[0, 0, 0, 7, s, 7] for s in range(4)], dtype=np.int64)


def shapes_arrays():
    images = np.zeros((4, 64, 64, 3), dtype=np.uint8)
    images[:, 10:20] = 200
    return {"images": images, "labels": shapes3d.classes_to_values(SHAPES_CLASSES)}


def write_shapes(path, *, danger=None, **changes):
    arrays = shapes_arrays()
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value(arrays[key]) if callable(value) else value
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            if danger is not None and danger[0] == key:
                write_dangerous(handle, key, value, danger[1], path.parent)
            else:
                handle.create_dataset(key, data=value)
    return path


SHAPES_CASES = {
    "0-byte": (lambda p: (p.write_bytes(b""), p)[1], "empty"),
    "truncated": (lambda p: truncate(write_shapes(p)), "HDF5"),
    "missing images": (lambda p: write_shapes(p, images=None), "missing dataset 'images'"),
    "wrong dtype": (lambda p: write_shapes(p, images=lambda a: a.astype(np.float32)), "images must be uint8"),
    "wrong shape": (lambda p: write_shapes(p, images=lambda a: a[..., :1]), "images must be uint8 (N, 64, 64, 3)"),
    "NaN label": (lambda p: write_shapes(p, labels=lambda a: _set(a, (2, 3), np.nan)), "off the 3D Shapes grid"),
    "label rows": (lambda p: write_shapes(p, labels=lambda a: a[:3]), "labels must be float64"),
    "structured labels": (lambda p: write_shapes(p, danger=("labels", "structured")), "structured"),
    **{f"images {kind}": ((lambda kind: lambda p: write_shapes(p, danger=("images", kind)))(kind), fragment) for kind, fragment in DANGERS},
    "labels external link": (lambda p: write_shapes(p, danger=("labels", "external link")), "external link"),
}


@pytest.mark.parametrize("case", sorted(SHAPES_CASES))
def test_official_shapes3d_refuses(tmp_path, case):
    make, fragment = SHAPES_CASES[case]
    path = make(tmp_path / "3dshapes.h5")
    expect(path, fragment, OfficialShapes3D)


def test_official_shapes3d_keeps_one_handle(tmp_path):
    path = write_shapes(tmp_path / "3dshapes.h5")
    arrays = shapes_arrays()
    reader = OfficialShapes3D(path)
    index = shapes3d.classes_to_index(SHAPES_CLASSES)
    assert np.array_equal(reader.images(index), arrays["images"])
    handle = reader._handle
    assert handle is not None
    reader.latents_values(index)
    assert reader._handle is handle  # not reopened per read
    clone = copy.copy(reader)  # the state pickling would send to a worker
    assert clone._handle is None and np.array_equal(clone.images(index[:1]), arrays["images"][:1])
    reader._pid = -1  # a forked child opens its own
    reader.images(index[:1])
    assert reader._handle is not handle
    with reader:
        pass
    assert reader._handle is None
    assert np.array_equal(reader.canonical_image(2), arrays["images"][2].transpose(2, 0, 1) / np.float32(255))


def test_official_shapes3d_partial_file_without_templates(tmp_path):
    path = write_shapes(tmp_path / "3dshapes.h5", images=lambda a: a[:3], labels=lambda a: a[:3])
    reader = OfficialShapes3D(path)
    expect(path, "template of shape capsule", lambda p: reader.canonical_image(3))


# --------------------------------------------------------------------------- load_array
def npy_with_trailing_bytes(path):
    np.save(path, np.ones((3, 2)))
    with open(path, "ab") as stream:
        stream.write(b"extra")
    return path


def write_h5(path, *, danger=None, data=np.ones((3, 2))):
    with h5py.File(path, "w") as handle:
        if danger:
            write_dangerous(handle, "features", data, danger, path.parent)
        else:
            handle.create_dataset("features", data=data)
    return path


ARRAY_CASES = {
    "npy 0-byte": ("a.npy", lambda p: (p.write_bytes(b""), p)[1], "empty"),
    "npy truncated": ("a.npy", lambda p: truncate((np.save(p, np.ones((50, 20))), p)[1]), "truncated"),
    "npy header only": ("a.npy", lambda p: (p.write_bytes(npy_bytes(np.ones((5, 5)))[:128]), p)[1], "truncated"),
    "npy trailing bytes": ("a.npy", npy_with_trailing_bytes, "bytes after its data"),
    "npy strings": ("a.npy", lambda p: (np.save(p, np.array(["a", "b"])), p)[1], "non-numeric dtype"),
    "npy structured": ("a.npy", lambda p: (np.save(p, np.zeros(3, dtype=[("a", "f8")])), p)[1], "non-numeric dtype"),
    "npy object": ("a.npy", lambda p: (np.save(p, np.array([1, None], dtype=object)), p)[1], "Python objects"),
    "npy garbage": ("a.npy", lambda p: (p.write_bytes(b"garbage!" * 4), p)[1], "not a valid .npy array"),
    "npz 0-byte": ("b.npz", lambda p: (p.write_bytes(b""), p)[1], "empty"),
    "npz truncated": ("b.npz", lambda p: truncate((np.savez(p, a=np.ones((40, 40))), p)[1]), "not a readable .npz"),
    "npz truncated member": ("b.npz", lambda p: truncated_member(p, "a", {"a": np.ones((40, 40))}), "a is truncated"),
    "npz corrupt member": ("b.npz", lambda p: corrupt_compressed_member((np.savez_compressed(p, a=np.arange(4000.0)), p)[1], "a"), "damaged"),
    "npz object member": ("b.npz", lambda p: (np.savez(p, a=np.array([None], dtype=object)), p)[1], "Python objects"),
    "h5 0-byte": ("c.h5", lambda p: (p.write_bytes(b""), p)[1], "empty"),
    "h5 truncated": ("c.h5", lambda p: truncate(write_h5(p, data=np.ones((200, 50)))), "HDF5"),
    "h5 structured": ("c.h5", lambda p: write_h5(p, danger="structured"), "structured"),
    "h5 strings": ("c.h5", lambda p: write_h5(p, danger="strings"), "object"),
    **{f"h5 {kind}": ("c.h5", (lambda kind: lambda p: write_h5(p, danger=kind))(kind), fragment) for kind, fragment in DANGERS},
}


@pytest.mark.parametrize("case", sorted(ARRAY_CASES))
def test_load_array_refuses(tmp_path, case):
    name, make, fragment = ARRAY_CASES[case]
    path = make(tmp_path / name)
    spec = f"{path}:/features" if name.endswith(".h5") else str(path)
    with pytest.raises(ArrayFileError) as info:
        load_array(spec, name="--x")
    assert_one_line(info.value, path, fragment)
    assert str(info.value).startswith("--x: ")


def test_load_array_reads_fortran_order_and_big_endian(tmp_path):
    data = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.save(tmp_path / "f.npy", data)
    np.savez_compressed(tmp_path / "f.npz", a=data.astype(">f4"))
    np.testing.assert_array_equal(load_array(tmp_path / "f.npy"), data)
    np.testing.assert_array_equal(load_array(tmp_path / "f.npz"), data)


# --------------------------------------------------------------------------- the command line
def run_cli(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def assert_cli_error(code, err, fragment):
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and fragment in err, err


@pytest.fixture
def features(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "y.npy", rng.normal(size=(20, 3)))
    np.save(tmp_path / "labels.npy", rng.integers(0, 2, size=20))
    return tmp_path


def test_cli_phase_estimate_empty_npy(features, capsys):
    (features / "x.npy").write_bytes(b"")
    code, err = run_cli(["phase", "estimate", "--x", str(features / "x.npy"), "--y", str(features / "y.npy"),
                         "--labels", str(features / "labels.npy")], capsys)
    assert_cli_error(code, err, "x.npy: the file is empty")


def test_cli_phase_estimate_truncated_npz(features, capsys):
    path = features / "x.npz"
    np.savez(path, x=np.ones((20, 3)))
    truncate(path)
    code, err = run_cli(["phase", "estimate", "--x", f"{path}:x", "--y", str(features / "y.npy"),
                         "--labels", str(features / "labels.npy")], capsys)
    assert_cli_error(code, err, "x.npz: not a readable .npz")


@pytest.mark.parametrize("damage, fragment", [
    (lambda p: truncate(write_dsprites(p)), "not a readable .npz"),
    (lambda p: truncated_member(p, "imgs", dsprites_arrays()), "imgs is truncated"),
    (lambda p: (np.savez(p, **dsprites_arrays(TEMPLATES[[0, 3]])), p)[1], "template of shape ellipse"),
])
def test_cli_render_with_a_damaged_or_partial_dsprites_source(tmp_path, monkeypatch, capsys, damage, fragment):
    monkeypatch.chdir(tmp_path)
    damage(tmp_path / "dsprites.npz")
    code, err = run_cli(["data", "render", "stereo-dsprites", "--n", "4", "--out", "p.h5", "--source", "dsprites.npz"], capsys)
    assert_cli_error(code, err, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dsprites.npz"]


@pytest.mark.parametrize("out, fragment", [("folder.h5", "is a folder"), ("afile.h5/p.h5", "is not a folder")])
def test_cli_render_checks_out_before_rendering(tmp_path, monkeypatch, capsys, out, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.h5").mkdir()
    (tmp_path / "afile.h5").write_text("")
    from mmphase_bench.data import stereo_dsprites

    def refuse(*args, **kwargs):
        raise AssertionError("the data set was built before --out was checked")

    monkeypatch.setattr(stereo_dsprites.StereoDSprites, "__init__", refuse)
    code, err = run_cli(["data", "render", "stereo-dsprites", "--n", "4", "--out", out], capsys)
    assert_cli_error(code, err, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.h5", "folder.h5"]
    assert not list((tmp_path / "folder.h5").iterdir())


def test_a_tree_of_soft_links_is_refused_quickly(tmp_path):
    """Each level points back at a path through the level below: resolving it naively costs m^depth
    lookups. The budget counts every soft link followed, so the reader refuses it at once."""
    from mmphase_bench.errors import FileFormatError
    from mmphase_bench.io.hdf5 import open_hdf5_safely, resolve

    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("g")
        handle["g/l0"] = h5py.SoftLink("/g")
        for level in range(1, 7):
            handle[f"g/l{level}"] = h5py.SoftLink("/g/" + "/".join([f"l{level - 1}"] * 6))
    # Without the budget this lookup would not end within the test timeout.
    with open_hdf5_safely(path, "links.h5") as handle, pytest.raises(FileFormatError, match="soft links"):
        resolve(handle, "/g/" + "/".join(["l6"] * 6), "links.h5")
