"""srharness bench: TODO (being written)."""


def add_parser(sub):
    p = sub.add_parser("bench", help="(not yet implemented)")
    p.set_defaults(func=lambda args: print("not implemented yet") or 1)
