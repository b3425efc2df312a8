"""srharness deployability: the table of the SR architectures spandrel supports (srharness.zoo):
export per opset with the first unsupported op, onnxruntime / fp16 / int8 agreement, dynamic H/W,
tiling, and the hardware each will not compile on. Needs the srharness[zoo] extra.

    srharness deployability                       # the whole table (about 4 min on 2 cores)
    srharness deployability --only ESRGAN,SwinIR --json
    srharness deployability --markdown table.md   # also write the table as Markdown (README, report)
"""
from __future__ import annotations

from srharness import settings
from srharness.cli import args as types


def arguments(p):
    p.add_argument("--only", type=types.name_list, help="comma-separated rows (architecture names) to judge")
    p.add_argument("--workers", type=types.int_range(1, 64), default=2, help="rows judged at once (default 2)")
    p.add_argument("--work-dir", help="where the ONNX files go (default: a temporary folder)")
    p.add_argument("--markdown", metavar="OUT.md", help="also write the table as Markdown to this file")
    p.add_argument("--json", action="store_true", help="print the rows as one JSON object")


def run(args) -> int:
    import json

    from srharness.zoo.table import build_table, markdown, summary
    data_dir = settings.resolve("sr_data_dir", flag=args.data_dir)
    rows = build_table(data_dir, only=args.only, workers=args.workers, work_dir=args.work_dir)
    text = markdown(rows)
    if args.markdown:
        from srharness.fileio import atomic_write_text
        atomic_write_text(args.markdown, text + "\n")
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary(rows)}, indent=2, default=str))
    else:
        print(text)
        print()
        print(summary(rows)["line"])
    return 0
