"""Reusable check classes. A suite module subclasses them with a `Test` prefix and sets the
class attributes (model, scale, ...); the checks themselves live here, once."""


class ModelChecks:
    """The attributes every check class is keyed by: the registered model and its scale."""
    model: str
    scale: int = 2

    def judge_agreement(self, sr_record, outs, refs, tol, *, floor: float, what: str, reference: str,
                        backend: str, precision: str, hardware: str, metric: str, rule: str, dataset: str,
                        conditions: dict, details: dict | None = None) -> None:
        """The one ending of the fidelity checks on every hardware: the worst image's PSNR of `outs`
        against `refs` (the floor's own statistic, `tol`), judged against `floor`; the report title,
        the verdict with each image's PSNR, and the assert."""
        from srharness import report
        from srharness.models import get_model_spec
        from srharness.records import Verdict
        from srharness.statistics import per_pair_psnr
        data_range = get_model_spec(self.model).input_range
        worst = tol.measure(outs, refs, data_range)
        scores = per_pair_psnr(outs, refs, data_range)
        passed = worst >= floor
        report.title(f"{self.model} x{self.scale} {what}: worst {worst:.2f} dB (floor {floor:g})")
        sr_record(Verdict(model=self.model, check="accuracy", metric=metric, measured=worst, hardware=hardware,
                          backend=backend, precision=precision, scale=self.scale, protocol="fidelity",
                          dataset=dataset, golden=floor, rule=rule, passed=passed, unit="dB",
                          conditions={**conditions, "per_image_db": [round(s, 3) for s in scores],
                                      **(details or {})}))
        assert passed, (f"{self.model} {backend}: output PSNR vs {reference} {worst:.2f} dB below the "
                        f"{floor:g} dB floor (per image {scores})")
