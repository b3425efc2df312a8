"""srharness train: TODO (being written)."""


def add_parser(sub):
    p = sub.add_parser("train", help="(not yet implemented)")
    p.set_defaults(func=lambda args: print("not implemented yet") or 1)
