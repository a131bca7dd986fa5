import numpy as np
from PIL import Image

from edgekit.images import Preprocess, bundled_photos, list_images, photo_batch, preprocess


def test_preprocess_resizes_crops_and_normalises_a_known_image() -> None:
    # 40x20 image: left half red, right half blue; shorter side 20 -> 32, crop 16x16 centre
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20, 0] = 255
    a[:, 20:, 2] = 255
    pp = Preprocess(16, 16, 32, "nearest", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    x = preprocess(Image.fromarray(a), pp)
    assert x.shape == (3, 16, 16) and x.dtype == np.float32
    assert np.allclose(x[0, :, :8], 1.0) and np.allclose(x[2, :, 8:], 1.0)
    assert np.allclose(x[1], -1.0)


def test_resized_keeps_the_crop_ratio() -> None:
    pp = Preprocess(224, 224, 256).resized(64, 64)
    assert (pp.height, pp.width, pp.resize) == (64, 64, 73)
    assert Preprocess.from_dict(pp.to_dict()) == pp


def test_bundled_photos_are_real_images(tmp_path) -> None:
    photos = bundled_photos()
    assert len(photos) >= 8
    x = photo_batch(Preprocess(32, 32, 36), count=3)
    assert x.shape == (3, 3, 32, 32) and np.isfinite(x).all() and x.std() > 0.1


def test_list_images_skips_and_counts_other_files(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "x.PNG")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "README").write_text("hi")
    images, skipped = list_images(tmp_path)
    assert [p.name for p in images] == ["x.PNG"] and skipped == 2
