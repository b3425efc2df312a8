"""Dataset readers. Every reader returns a `Dataset`: an ordered list of `Sample`s whose images
are read on demand (a DIV2K image is 2040x1356; never hold more than one at a time).

Images come back as uint8 HxWx3 RGB; grayscale files are expanded to three equal channels so
every protocol sees one layout.

    load_dataset("set5", data_dir)                 # <data>/set5/hr/*_GT.bmp
    load_dataset("selfexsr", data_dir, scale=4)    # <data>/set5/selfexsr_SRF_4/img_00N_SRF_4_{HR,LR}.png
    load_dataset("vdsr-mat", data_dir, scale=4)    # <data>/set5/vdsr_mat/<name>_GT_x4.mat
    load_dataset("div2k", data_dir, scale=2)       # <data>/DIV2K_valid_HR + DIV2K_valid_LR_bicubic/X2
    load_dataset("folder", "/any/folder")          # any folder of png/bmp/jpg HR images
    load_dataset("embedded")                       # scikit-image's bundled photos (no data dir)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
SET5_ORDER = ("baby", "bird", "butterfly", "head", "woman")  # SelfExSR img_001..005
# scikit-image photos shipped inside the wheel (no download), one grayscale among them.
EMBEDDED_IMAGES = ("astronaut", "camera", "chelsea", "coffee")
DATASETS = ("set5", "selfexsr", "vdsr-mat", "div2k", "folder", "embedded")


class DatasetError(ValueError):
    """A dataset is missing, empty or unreadable; the message names the path and the fix."""


def read_image(path: Path) -> np.ndarray:
    """uint8 HxWx3 RGB from an image file (grayscale and palette images expanded)."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable image ({exc}); replace or remove the file") from exc


def as_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    return img


@dataclass
class Sample:
    name: str
    _hr: Callable[[], np.ndarray]
    _lr: Callable[[], np.ndarray] | None = None
    source: str = ""                          # file the HR image comes from
    extra: dict[str, Any] = field(default_factory=dict)

    def hr(self) -> np.ndarray:
        return self._hr()

    def lr(self) -> np.ndarray | None:
        """The dataset's own LR image where it ships one (SelfExSR, DIV2K), else None."""
        return self._lr() if self._lr else None


@dataclass
class Dataset:
    name: str
    root: str
    samples: list[Sample]
    scale: int | None = None
    notes: str = ""

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def names(self) -> list[str]:
        return [s.name for s in self.samples]

    def subset(self, names) -> "Dataset":
        wanted = list(names)
        by_name = {s.name: s for s in self.samples}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise DatasetError(f"{self.root}: no image(s) {missing} in {self.name}; have {self.names()}")
        return Dataset(self.name, self.root, [by_name[n] for n in wanted], self.scale, self.notes)


def _require_dir(path: Path, what: str, fix: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{what}: folder {path} does not exist; {fix}")
    return path


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


_DATA_FIX = ("pass --sr-data-dir / --data-dir or set SRHARNESS_DATA_DIR to the shared data folder "
             "(see ../shared/data/README.md for its layout)")


def folder_dataset(folder: str | Path, name: str = "folder") -> Dataset:
    folder = Path(folder)
    _require_dir(folder, f"dataset {name}", "give a folder of HR images (png/bmp/jpg)")
    files = _image_files(folder)
    if not files:
        raise DatasetError(f"dataset {name}: {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                           "put HR images there or point at the right folder")
    return Dataset(name, str(folder), [Sample(p.stem, lambda p=p: read_image(p), source=str(p)) for p in files])


def set5(data_dir: str | Path) -> Dataset:
    folder = Path(data_dir) / "set5" / "hr"
    _require_dir(folder, "dataset set5", _DATA_FIX)
    ds = folder_dataset(folder, "set5")
    for s in ds.samples:
        s.name = s.name.removesuffix("_GT")
        # MATLAB bicubic down+up BMPs shipped beside the HR (the VDSR guide's inputs)
        s.extra["bicubic_up"] = lambda scale, n=s.name: read_image(
            _existing(Path(data_dir) / "set5" / f"bicubic_up_x{scale}" / f"{n}_GT_scale_{scale}.bmp"))
    return ds


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise DatasetError(f"{path} is missing; restore the shared Set5 data or use a protocol that makes its own bicubic")
    return path


def selfexsr(data_dir: str | Path, scale: int) -> Dataset:
    folder = Path(data_dir) / "set5" / f"selfexsr_SRF_{scale}"
    _require_dir(folder, f"dataset selfexsr x{scale}", _DATA_FIX)
    samples = []
    for i, name in enumerate(SET5_ORDER, start=1):
        hr = folder / f"img_{i:03d}_SRF_{scale}_HR.png"
        lr = folder / f"img_{i:03d}_SRF_{scale}_LR.png"
        for p in (hr, lr):
            if not p.is_file():
                raise DatasetError(f"dataset selfexsr x{scale}: {p} is missing; restore the SelfExSR Set5 pairs")
        samples.append(Sample(name, lambda p=hr: read_image(p), lambda p=lr: read_image(p), source=str(hr)))
    return Dataset("selfexsr", str(folder), samples, scale, "HR modcropped; LR by MATLAB bicubic")


def _load_mat(path: Path) -> dict[str, np.ndarray]:
    import scipy.io
    try:
        m = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for truncated/garbage files
        raise DatasetError(f"{path}: not a readable MATLAB .mat file ({exc}); re-fetch it") from exc
    for key in ("im_gt", "im_gt_y", "im_b_y"):
        if key not in m:
            raise DatasetError(f"{path}: key {key!r} missing (has {sorted(k for k in m if not k.startswith('__'))}); "
                               "expected a VDSR eval .mat")
    return m


def vdsr_mat(data_dir: str | Path, scale: int) -> Dataset:
    """The VDSR eval .mat files: im_gt (uint8 RGB), im_gt_y / im_b_y (float MATLAB Y, 0..255)."""
    folder = Path(data_dir) / "set5" / "vdsr_mat"
    _require_dir(folder, "dataset vdsr-mat", _DATA_FIX)
    files = sorted(folder.glob(f"*_GT_x{scale}.mat"))
    if not files:
        raise DatasetError(f"dataset vdsr-mat: no *_GT_x{scale}.mat in {folder}; {_DATA_FIX}")
    samples = []
    for p in files:
        def hr(p=p):
            return _load_mat(p)["im_gt"]
        samples.append(Sample(p.name.removesuffix(f"_GT_x{scale}.mat"), hr, source=str(p),
                              extra={"mat": lambda p=p: _load_mat(p)}))
    return Dataset("vdsr-mat", str(folder), samples, scale, "baby is missing upstream")


def div2k(data_dir: str | Path, scale: int = 2) -> Dataset:
    """DIV2K validation layout: DIV2K_valid_HR/0801.png and DIV2K_valid_LR_bicubic/X2/0801x2.png
    (looked for in data_dir and data_dir/DIV2K)."""
    root = Path(data_dir)
    if not (root / "DIV2K_valid_HR").is_dir() and (root / "DIV2K" / "DIV2K_valid_HR").is_dir():
        root = root / "DIV2K"
    hr_dir = _require_dir(root / "DIV2K_valid_HR", "dataset div2k",
                          "download DIV2K_valid_HR and DIV2K_valid_LR_bicubic into the data dir")
    lr_dir = _require_dir(root / "DIV2K_valid_LR_bicubic" / f"X{scale}", "dataset div2k",
                          f"download DIV2K_valid_LR_bicubic_X{scale} into the data dir")
    samples = []
    for p in _image_files(hr_dir):
        lr = lr_dir / f"{p.stem}x{scale}{p.suffix}"
        if not lr.is_file():
            raise DatasetError(f"dataset div2k: {lr} missing for {p}; the LR folder is incomplete")
        samples.append(Sample(p.stem, lambda p=p: read_image(p), lambda p=lr: read_image(p), source=str(p)))
    if not samples:
        raise DatasetError(f"dataset div2k: {hr_dir} holds no images; download DIV2K_valid_HR")
    return Dataset("div2k", str(root), samples, scale)


def embedded() -> Dataset:
    """scikit-image's bundled photos: real images for a fresh clone with no data dir."""
    import skimage.data
    samples = [Sample(n, lambda n=n: as_rgb(getattr(skimage.data, n)()), source=f"skimage.data.{n}")
               for n in EMBEDDED_IMAGES]
    return Dataset("embedded", "skimage.data", samples, notes="scikit-image sample images (camera is grayscale)")


def load_dataset(name: str, data_dir: str | Path | None = None, scale: int = 2) -> Dataset:
    if name == "embedded":
        return embedded()
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if data_dir is None:
        raise DatasetError(f"dataset {name} needs a data dir; {_DATA_FIX}"
                           + (" (for 'folder': --data-dir is the image folder)" if name == "folder" else ""))
    if name == "folder":
        return folder_dataset(data_dir)
    if name == "set5":
        return set5(data_dir)
    if name == "selfexsr":
        return selfexsr(data_dir, scale)
    if name == "vdsr-mat":
        return vdsr_mat(data_dir, scale)
    return div2k(data_dir, scale)
