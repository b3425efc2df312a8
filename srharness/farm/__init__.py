"""Farm mode: the nightly split into per-hardware shards, run on the hosts that hold the cards, merged into one report.

- `identity`: who ran a shard (host name, cards and counts, driver/toolkit, srharness and git versions);
- `shard`:    `srharness nightly --shard HW` (engine-neutral: any CI matrix can run it);
- `merge`:    `srharness merge SHARD_DIRS... -o OUT` (one Allure results folder, one summary, one exit code);
- `node`:     `srharness farm-node` (a `ray start` that advertises the detected cards as Ray resources);
- `launcher`: `srharness farm` (places one shard per (hardware, node) on Ray, gathers, merges).

Only `node` and `launcher` need Ray (`pip install srharness[farm]`); they import it inside functions.
"""
