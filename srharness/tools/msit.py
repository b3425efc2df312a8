"""Ascend `msit debug compare` (formerly `ait debug compare`) result CSVs, read row by row here;
srharness.diagnose.msit.read_compare_csv turns them into the per-node table of srharness.diagnose, so
an om-vs-onnx comparison made on an Ascend machine lands in the same report as onnxruntime's.

The file is `{output}/{timestamp}/result_{timestamp}.csv`; its columns are documented in CANN's
"Parameters in a Complete Model Comparison Result" and ait's result_analyse README:

    Index, [OpSequence], OpType, NPUDump, DataType, Address, GroundTruth, DataType, TensorIndex, Shape,
    [OverFlow], CosineSimilarity, MaxAbsoluteError, AccumulatedRelativeError, RelativeEuclideanDistance,
    KullbackLeiblerDivergence, StandardDeviation, MeanAbsoluteError, RootMeanSquareError,
    MaxRelativeError, MeanRelativeError, CompareFailReason

The first DataType is the NPU side's, the second the ground truth's (the header repeats the name).
NPUDump is the om operator (after fusion), GroundTruth the original model's operators it stands for
(comma-separated; `*` when there is none), TensorIndex `<NPUDump>:<input|output>:<n>`. Values that
could not be computed are `NaN` with the reason in CompareFailReason. OpSequence appears only with
`-r`/`-s`, OverFlow only with `-overflow_detection`; the metric columns follow the algorithms chosen.

msprobe (`msprobe compare -m offline_model`, msit's successor since msit's compare was retired on
2026-07-01) writes the same columns plus IsNpuOps, IsOutputNode and IsPrecisionError. Both tools
append a `NPUDump=Node_Output` row whose GroundTruth/TensorIndex hold the output dump files' paths:
it is the graph output's file list, not an operator, so it is never a node (nor a keep-dtype
candidate); msprobe's IsOutputNode marks the graph output instead of the last operator.

The file is read as a stream (one row at a time, fields bounded by MAX_FIELD_CHARS), so a large
compare costs memory for its node table only. Metrics are checked: CosineSimilarity in [-1, 1],
the distances and errors >= 0 (a value out of range is a corrupt file, named with its row); NaN
is "not computed" (msit's CompareFailReason says why), and a file where no output row has a
computable metric is refused rather than reported as "0 diverged".

Mapping into srharness.diagnose.NodeError: cosine = CosineSimilarity, relative_l2 =
RelativeEuclideanDistance (the same quantity: |a - b| / |a|), sqnr_db = -20 log10(relative_l2)
(exact, by that definition), max/mean abs error as given; the other columns are kept under `extra`.
An operator's `input` rows give its inputs' error, so `gain_db` (error introduced by the operator)
is computed as for onnxruntime graphs. NaN/Inf counts are not in the CSV (left 0); OverFlow YES sets
fp16_overflow_count to 1 (a flag per tensor, not an element count).
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

from srharness.errors import InputError

MAX_BYTES = 256 * 1024 * 1024          # a whole-network compare of a large model is tens of MB
MAX_FIELD_CHARS = 64 * 1024            # a GroundTruth list of fused operators is < 4 KB
REQUIRED = ("Index", "NPUDump", "GroundTruth", "TensorIndex", "CosineSimilarity")
METRICS = ("CosineSimilarity", "MaxAbsoluteError", "AccumulatedRelativeError", "RelativeEuclideanDistance",
           "KullbackLeiblerDivergence", "MeanAbsoluteError", "RootMeanSquareError", "MaxRelativeError",
           "MeanRelativeError")
MSPROBE_COLUMNS = ("IsNpuOps", "IsOutputNode", "IsPrecisionError")
OUTPUT_FILES_ROW = "Node_Output"       # NPUDump of the row listing the output dump files
SOURCE = ("CANN docs 'Parameters in a Complete Model Comparison Result'; "
          "ait examples/cli/debug/compare/result_analyse/README.md")
_INDEX = re.compile(r"\d{1,9}")


class MsitCsvError(InputError):
    """A file that is not an msit compare result; the message names the file and what is wrong."""


def _number(text: str, where: str) -> float | None:
    """A metric cell: None for NaN/empty (not computed), else a finite float in the metric's range."""
    text = (text or "").strip()
    if text == "" or text.lower() in ("nan", "none", "n/a", "-"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise MsitCsvError(f"{where}: {text[:40]!r} is not a number (expected a value or NaN)") from None
    if not math.isfinite(value):
        raise MsitCsvError(f"{where}: {text[:40]!r} is not a finite number")
    name = where.rsplit(" ", 1)[-1]
    if name == "CosineSimilarity" and not -1.0 - 1e-6 <= value <= 1.0 + 1e-6:
        raise MsitCsvError(f"{where}: {value!r} is outside [-1, 1], the range of a cosine similarity")
    if name != "CosineSimilarity" and value < 0:
        raise MsitCsvError(f"{where}: {value!r} is negative; a distance or error is >= 0")
    return value


def _open_rows(path: Path):
    """(line number, values) of the CSV, read as a stream with bounded fields."""
    if not path.is_file():
        raise MsitCsvError(f"{path}: no such file (msit writes result_<timestamp>.csv under its -o folder)")
    if path.stat().st_size > MAX_BYTES:
        raise MsitCsvError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_BYTES} this reader accepts")
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS + 1))
    return _stream(path)


def _stream(path: Path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            for values in reader:
                if any(len(v) > MAX_FIELD_CHARS for v in values):
                    raise MsitCsvError(f"{path}:{reader.line_num}: a field longer than {MAX_FIELD_CHARS} "
                                       "characters; not an msit/msprobe compare result")
                yield reader.line_num, values
        except csv.Error as exc:
            raise MsitCsvError(f"{path}:{reader.line_num}: not a CSV file ({exc})") from None
        except UnicodeDecodeError as exc:
            raise MsitCsvError(f"{path}: not UTF-8 text ({exc.reason}); is it an msit compare result CSV?") from None


def iter_rows(path: str | Path):
    """The CSV's rows as dicts, one at a time; the two DataType columns become DataType (NPU) and
    GroundTruthDataType."""
    path = Path(path)
    stream = _open_rows(path)
    first = next(stream, None)
    if not first or not first[1]:
        stream.close()
        raise MsitCsvError(f"{path}: empty file")
    header = [h.strip() for h in first[1]]
    names, seen_dtype = [], 0
    for h in header:
        if h == "DataType":
            names.append("DataType" if seen_dtype == 0 else "GroundTruthDataType")
            seen_dtype += 1
        else:
            names.append(h)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        stream.close()
        raise MsitCsvError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header)[:300]}. "
                           f"Expected an msit/ait `debug compare` or msprobe offline_model result_*.csv ({SOURCE})")
    for lineno, values in stream:
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(names):
            raise MsitCsvError(f"{path}:{lineno}: {len(values)} fields, the header has {len(names)}")
        yield dict(zip(names, (v.strip() for v in values)))


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """All rows (iter_rows as a list; for small files and tests)."""
    return list(iter_rows(path))
