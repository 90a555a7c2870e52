"""Whether an experiment learned its data, judged against its own floors (issue 14's targets).

Each target compares numbers measured at the same counts by the same backbone: the generator's IS with the
IS of real training clips, its FVD with the FVD of real training clips against the same real clips (real vs
real), and how much its FVD still fell over the last half of training (the ``curve`` analysis) with that
FVD's run-to-run std. They are printed by the report stage and by ``bench/default_targets.py`` and written
to ``reports/targets.md``; no test asserts them, since what a small model reaches is a measurement.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.report.cells import fmt
from pipeline.report.inputs import Doc, Inputs

IS_RATIO_MIN = 0.75  # IS of generated videos over the IS of real training clips
FVD_RATIO_MAX = 3.0  # FVD of generated videos over the real-vs-real FVD


@dataclass(frozen=True)
class Target:
    experiment: str
    name: str
    measured: float
    bound: float
    at_most: bool  # the measured value must be <= bound (else >= bound)
    detail: str  # the numbers it is computed from, with their files

    @property
    def met(self) -> bool:
        return self.measured <= self.bound if self.at_most else self.measured >= self.bound

    def line(self) -> str:
        verdict = "met" if self.met else "NOT met"
        return (f"{self.experiment}: {self.name} = {fmt(self.measured)} (target {'≤' if self.at_most else '≥'} "
                f"{fmt(self.bound)}): {verdict}; {self.detail}")


def targets(inp: Inputs) -> list[Target]:
    """The targets of every experiment whose quality file has a real-vs-real floor."""
    fvd_key, is_key = f"fvd_{inp.params.evaluate.backbone.kind}", f"is_{inp.params.evaluate.is_backbone.kind}"
    found = []
    for name in inp.experiments:
        quality = inp.doc(name, "quality") if "quality" in inp.experiments[name].analyses else None
        if quality is None or not quality.has("floors", "real"):
            continue
        real = ("floors", "real")
        if quality.has("metrics", is_key) and quality.has(*real, is_key):
            found.append(_ratio(name, quality, is_key, "IS / real clips' IS", IS_RATIO_MIN, at_most=False))
        if quality.has("metrics", fvd_key) and quality.has(*real, fvd_key):
            found.append(_ratio(name, quality, fvd_key, "FVD / real-vs-real FVD", FVD_RATIO_MAX, at_most=True))
        curve = inp.doc(name, "curve") if "curve" in inp.experiments[name].analyses else None
        if curve is not None:
            found += _converged(name, curve, fvd_key)
    return found


def _ratio(name: str, doc: Doc, key: str, what: str, bound: float, *, at_most: bool) -> Target:
    ours, real = doc.get("metrics", key, "mean"), doc.get("floors", "real", key, "mean")
    return Target(name, f"{what} ({key})", ours / real, bound, at_most,
                  f"{fmt(ours)} against {fmt(real)} ({doc.path} /metrics and /floors/real)")


def _converged(name: str, doc: Doc, key: str) -> list[Target]:
    """FVD at the snapshot nearest half-way minus the final FVD, against the final FVD's run-to-run std."""
    points = [p for p in doc.get("points", kind="list") if key in p["metrics"]]
    if len(points) < 2:
        return []
    final = points[-1]
    middle = min(points[:-1], key=lambda p: abs(p["step"] - final["step"] / 2))
    drop = middle["metrics"][key]["mean"] - final["metrics"][key]["mean"]
    std = final["metrics"][key]["std"]
    return [Target(name, f"FVD fall over the last half of training ({key})", drop, std, True,
                   f"step {middle['step']} → {final['step']}: {fmt(middle['metrics'][key]['mean'])} → "
                   f"{fmt(final['metrics'][key]['mean'])}; the bound is the final run-to-run std ({doc.path})")]


def targets_markdown(found: list[Target], profile: str) -> str:
    lines = ["# Targets: did the model learn its data?", "",
             f"Profile: {profile}. Each target compares numbers of the same backbone at the same counts "
             "(pipeline/report/targets.py); they are measurements, not the paper's numbers.", ""]
    if not found:
        return "\n".join(lines + ["No experiment was scored with floors (evaluate.floors)."]) + "\n"
    lines += ["| experiment | target | measured | bound | met | from |", "|---|---|---|---|---|---|"]
    for t in found:
        bound = f"{'≤' if t.at_most else '≥'} {fmt(t.bound)}"
        lines.append(f"| {t.experiment} | {t.name} | {fmt(t.measured)} | {bound} | {'yes' if t.met else 'no'} "
                     f"| {t.detail} |")
    return "\n".join(lines) + "\n"
