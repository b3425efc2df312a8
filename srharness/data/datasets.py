"""Dataset readers. Every reader returns a `Dataset`: an ordered list of `Sample`s whose images
are read on demand (a DIV2K image is 2040x1356; never hold more than one at a time).

Images come back as uint8 HxWx3 RGB; grayscale files are expanded to three equal channels so
every protocol sees one layout.

Validated on read (a wrong image must never become a wrong figure):
- 8-bit images (L, P, RGB, RGBA, ...) are read as they are (alpha is dropped).
- 16-bit images (PNG/TIFF, grayscale or RGB) are converted to 8-bit as MATLAB's im2uint8 does,
  round(v / 257), the convention of the benchmark protocol's MATLAB code. PIL alone would saturate
  a 16-bit grayscale image to 255 and truncate a 16-bit RGB one, so they are read with OpenCV.
- float images (a float TIFF) are refused: the file does not say whether 1.0 or 255 is white.
- more than MAX_PIXELS pixels is refused from the header, before decoding (PIL's decompression-bomb
  guard, made a DatasetError).
- HR/LR pairs (SelfExSR, DIV2K, folder *_HR/*_LR) must have LR = HR // scale; a stored bicubic
  image must have the HR's size (modcropped); a VDSR .mat's im_gt must be uint8 HxWx3.
- `Dataset.require_min_side(n)` refuses images too small for a protocol (crop, shave, SSIM window).

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
from srharness.errors import InputError

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
SET5_ORDER = ("baby", "bird", "butterfly", "head", "woman")  # SelfExSR img_001..005
# scikit-image photos shipped inside the wheel (no download), one grayscale among them.
EMBEDDED_IMAGES = ("astronaut", "camera", "chelsea", "coffee")
DATASETS = ("set5", "selfexsr", "vdsr-mat", "div2k", "folder", "embedded")


class DatasetError(InputError):
    """A dataset is missing, empty or unreadable; the message names the path and the fix."""


MAX_PIXELS = 8192 * 8192          # a DIV2K image is 2.8 MP, a 4K frame 8.3 MP
EIGHT_BIT_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "YCbCr", "CMYK"}
SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}


def _sixteen_to_eight(a: np.ndarray) -> np.ndarray:
    """MATLAB im2uint8 of a uint16 image: round(v / 257)."""
    return np.floor(a.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)


def _is_16bit_rgb(im) -> bool:
    """PIL opens a 48/64-bit PNG as 8-bit RGB(A), keeping each high byte; its tile says so."""
    return im.mode in ("RGB", "RGBA") and any(";16" in str(t.args if hasattr(t, "args") else t[3])
                                             for t in (im.tile or []))


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header, without decoding; DatasetError for an unreadable file."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.size
    except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError... for a broken header
        raise DatasetError(f"{path}: not a readable image ({type(exc).__name__}: {exc}); "
                           "replace or remove the file") from None


def read_image(path: Path) -> np.ndarray:
    """uint8 HxWx3 RGB from an image file (grayscale and palette images expanded, 16-bit images
    converted as MATLAB's im2uint8; float images refused)."""
    import warnings

    from PIL import Image
    path = Path(path)
    try:
        with warnings.catch_warnings():   # PIL warns above 89 MP; MAX_PIXELS below decides, with a clear error
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise DatasetError(f"{path}: {w}x{h} is {w * h} pixels, more than {MAX_PIXELS} "
                                   "(a decompression bomb or the wrong file); crop or tile it first")
            if w < 1 or h < 1:
                raise DatasetError(f"{path}: an empty image ({w}x{h})")
            mode = im.mode
            if mode in EIGHT_BIT_MODES and not _is_16bit_rgb(im):
                rgb = np.asarray(im.convert("RGB"))
            elif mode in SIXTEEN_BIT_MODES:
                rgb = as_rgb(_sixteen_to_eight(np.asarray(im)))
            elif _is_16bit_rgb(im):
                rgb = _read_16bit_colour(path)
            elif mode in ("F", "I") or mode.startswith("F;") or mode.startswith("I;32"):
                raise DatasetError(f"{path}: a {'float' if mode.startswith('F') else '32-bit integer'} image "
                                   f"(PIL mode {mode}): its value range (0..1 or 0..255) is not stated in the "
                                   "file; convert it to an 8-bit PNG")
            else:
                raise DatasetError(f"{path}: unsupported image mode {mode}; convert it to an 8-bit RGB PNG")
    except DatasetError:
        raise
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{path}: refused by PIL's decompression-bomb guard ({exc})") from None
    except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError... for a broken file
        raise DatasetError(f"{path}: not a readable image ({type(exc).__name__}: {exc}); "
                           "replace or remove the file") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise DatasetError(f"{path}: decoded to {rgb.dtype} {rgb.shape}, not an 8-bit RGB image")
    return rgb


def _read_16bit_colour(path: Path) -> np.ndarray:
    import cv2
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if a is None or a.dtype != np.uint16 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise DatasetError(f"{path}: a 16-bit colour image OpenCV cannot read; convert it to an 8-bit RGB PNG")
    return np.ascontiguousarray(_sixteen_to_eight(a[..., 2::-1]))   # BGR(A) -> RGB


def check_pair(hr_size: tuple[int, int], lr_size: tuple[int, int], scale: int, hr: Path, lr: Path) -> None:
    """An LR image must be its HR // scale (sizes are (width, height))."""
    want = (hr_size[0] // scale, hr_size[1] // scale)
    if tuple(lr_size) != want:
        raise DatasetError(f"{lr}: {lr_size[0]}x{lr_size[1]} is not {hr}'s {hr_size[0]}x{hr_size[1]} / {scale} "
                           f"= {want[0]}x{want[1]}; the LR file belongs to another image or scale")


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

    def require_min_side(self, min_side: int, why: str) -> "Dataset":
        """Each HR image must be at least min_side pixels on both sides (checked when it is read)."""
        for s in self.samples:
            def hr(read=s._hr, name=s.name, source=s.source):
                img = read()
                if min(img.shape[:2]) < min_side:
                    raise DatasetError(f"{source or name}: {img.shape[1]}x{img.shape[0]} is too small: {why} "
                                       f"needs at least {min_side}x{min_side}")
                return img
            s._hr = hr
        return self

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
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None


def _is_lr_name(p: Path) -> bool:
    return p.stem.lower().endswith("_lr")


_DATA_FIX = ("pass --sr-data-dir / --data-dir or set SRHARNESS_DATA_DIR to the shared data folder "
             "(see ../shared/data/README.md for its layout)")


def folder_dataset(folder: str | Path, name: str = "folder", scale: int | None = None) -> Dataset:
    """A folder of HR images. `X_LR.png` files are never taken for HR: beside an `X_HR.png` they are
    its LR image (size checked against `scale`), alone they are ignored."""
    folder = Path(folder)
    _require_dir(folder, f"dataset {name}", "give a folder of HR images (png/bmp/jpg)")
    all_files = _image_files(folder)
    lr_files = {p.stem[:-3].lower(): p for p in all_files if _is_lr_name(p)}
    files = [p for p in all_files if not _is_lr_name(p)]
    if not files:
        raise DatasetError(f"dataset {name}: {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}"
                           + ("; *_LR files are not HR images" if lr_files else "")
                           + "); put HR images there or point at the right folder")
    samples = []
    for p in files:
        stem = p.stem[:-3] if p.stem.lower().endswith("_hr") else p.stem
        lr = lr_files.get(stem.lower()) if p.stem.lower().endswith("_hr") else None
        samples.append(Sample(stem if lr else p.stem, lambda p=p: read_image(p),
                              _lr_reader(p, lr, scale) if lr else None, source=str(p)))
    return Dataset(name, str(folder), samples, scale if lr_files else None)


def _lr_reader(hr: Path, lr: Path, scale: int | None):
    def read():
        if scale is not None:
            check_pair(image_size(hr), image_size(lr), scale, hr, lr)
        return read_image(lr)
    return read


def set5(data_dir: str | Path) -> Dataset:
    folder = Path(data_dir) / "set5" / "hr"
    _require_dir(folder, "dataset set5", _DATA_FIX)
    ds = folder_dataset(folder, "set5")
    for s in ds.samples:
        s.name = s.name.removesuffix("_GT")
        # MATLAB bicubic down+up BMPs shipped beside the HR (the VDSR guide's inputs)
        s.extra["bicubic_up"] = lambda scale, n=s.name, hr=Path(s.source): _bicubic_up(
            _existing(Path(data_dir) / "set5" / f"bicubic_up_x{scale}" / f"{n}_GT_scale_{scale}.bmp"), hr, scale)
    return ds


def _bicubic_up(path: Path, hr: Path, scale: int) -> np.ndarray:
    """A stored bicubic-upscaled image: the HR's size, modcropped to the scale or not."""
    w, h = image_size(hr)
    bw, bh = image_size(path)
    if (bw, bh) not in ((w, h), (w - w % scale, h - h % scale)):
        raise DatasetError(f"{path}: {bw}x{bh} does not match its HR {hr} ({w}x{h}, modcropped "
                           f"{w - w % scale}x{h - h % scale}); the bicubic file belongs to another image")
    return read_image(path)


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
        samples.append(Sample(name, lambda p=hr: read_image(p), _lr_reader(hr, lr, scale), source=str(hr)))
    return Dataset("selfexsr", str(folder), samples, scale, "HR modcropped; LR by MATLAB bicubic")


def _load_mat(path: Path) -> dict[str, np.ndarray]:
    import scipy.io
    try:
        if path.stat().st_size > MAX_PIXELS * 8:
            raise DatasetError(f"{path}: {path.stat().st_size} bytes is too large for a VDSR eval .mat")
        m = scipy.io.loadmat(path)
    except DatasetError:
        raise
    except Exception as exc:  # scipy raises several types for truncated/garbage files
        raise DatasetError(f"{path}: not a readable MATLAB .mat file ({type(exc).__name__}: {exc}); "
                           "re-fetch it") from None
    for key in ("im_gt", "im_gt_y", "im_b_y"):
        if key not in m:
            raise DatasetError(f"{path}: key {key!r} missing (has {sorted(k for k in m if not k.startswith('__'))}); "
                               "expected a VDSR eval .mat")
    gt = m["im_gt"]
    if not (isinstance(gt, np.ndarray) and gt.dtype == np.uint8 and gt.ndim == 3 and gt.shape[2] == 3
            and min(gt.shape[:2]) >= 1):
        what = f"{gt.dtype} {gt.shape}" if isinstance(gt, np.ndarray) else type(gt).__name__
        raise DatasetError(f"{path}: im_gt is {what}; a VDSR eval .mat holds im_gt as uint8 HxWx3 RGB")
    for key in ("im_gt_y", "im_b_y"):
        y = m[key]
        if not (isinstance(y, np.ndarray) and y.dtype.kind in "fiu" and y.shape == gt.shape[:2]):
            what = f"{y.dtype} {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
            raise DatasetError(f"{path}: {key} is {what}; expected a real {gt.shape[0]}x{gt.shape[1]} array "
                               "(the Y channel of im_gt, 0..255)")
        if not np.isfinite(y).all() or y.min() < 0 or y.max() > 255:
            raise DatasetError(f"{path}: {key} holds values outside 0..255 or NaN/inf; re-fetch the file")
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
        samples.append(Sample(p.stem, lambda p=p: read_image(p), _lr_reader(p, lr, scale), source=str(p)))
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
        return folder_dataset(data_dir, scale=scale)
    if name == "set5":
        return set5(data_dir)
    if name == "selfexsr":
        return selfexsr(data_dir, scale)
    if name == "vdsr-mat":
        return vdsr_mat(data_dir, scale)
    return div2k(data_dir, scale)
