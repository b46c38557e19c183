import pickle

import h5py
import numpy as np
import pytest

from mmphase_bench.io.arrays import ArrayFileError, load_array
from mmphase_bench.io.atomic import atomic_path, write_text_atomic


def test_npy_npz_and_h5_round_trip(tmp_path):
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "a.npy", data)
    np.savez(tmp_path / "b.npz", first=data, second=data * 2)
    np.savez(tmp_path / "single.npz", only=data + 1)
    with h5py.File(tmp_path / "c.h5", "w") as handle:
        handle.create_dataset("group/features", data=data * 3)
    np.testing.assert_array_equal(load_array(tmp_path / "a.npy"), data)
    np.testing.assert_array_equal(load_array(f"{tmp_path}/b.npz:second"), data * 2)
    np.testing.assert_array_equal(load_array(f"{tmp_path}/single.npz"), data + 1)
    np.testing.assert_array_equal(load_array(f"{tmp_path}/c.h5:/group/features"), data * 3)
    np.testing.assert_array_equal(load_array(f"{tmp_path}/c.h5:group/features"), data * 3)


def test_object_arrays_are_never_unpickled(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.save(tmp_path / "evil.npy", np.array([Payload()], dtype=object))  # writes a pickle; only loading is unsafe
    with pytest.raises(ArrayFileError, match="Python objects"):
        load_array(tmp_path / "evil.npy", name="--x")
    assert not marker.exists()
    (tmp_path / "pickle.npy").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ArrayFileError):
        load_array(tmp_path / "pickle.npy")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("missing.npy", "file not found"),
        ("b.npz:nope", "no array 'nope'"),
        ("b.npz", "holds 2 arrays"),
        ("c.h5", "name the dataset"),
        ("c.h5:/missing", "no dataset"),
        ("c.h5:/group", "is a group"),
        ("notes.txt", "unsupported file type"),
        ("a.npy:key", "holds one array"),
        ("broken.npy", "not a valid .npy"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, spec, message):
    data = np.ones((3, 2))
    np.save(tmp_path / "a.npy", data)
    np.savez(tmp_path / "b.npz", first=data, second=data)
    with h5py.File(tmp_path / "c.h5", "w") as handle:
        handle.create_dataset("group/features", data=data)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ArrayFileError, match=message) as info:
        load_array(f"{tmp_path}/{spec}", name="--x")
    assert str(info.value).startswith("--x: ")
    assert "\n" not in str(info.value)


def test_atomic_write_replaces_and_cleans_up_on_error(tmp_path):
    target = tmp_path / "out.json"
    write_text_atomic(target, "first")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half written")
            raise RuntimeError("interrupted")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
