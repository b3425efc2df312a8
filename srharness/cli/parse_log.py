"""srharness parse-log: TODO (being written)."""


def add_parser(sub):
    p = sub.add_parser("parse-log", help="(not yet implemented)")
    p.set_defaults(func=lambda args: print("not implemented yet") or 1)
