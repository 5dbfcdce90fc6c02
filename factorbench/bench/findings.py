"""The thesis's findings as machine-checked claims over stored records.

Each finding of ``results/thesis/findings.toml`` names a thesis section, one sentence, the
thesis's own numbers and one or more *checks*: a relation between record values of one
benchmark. A check selects records by model, metric, grid values, training dataset and
target (:class:`Selector`), takes one value per seed, and compares seed means:

- ``<`` / ``>``: side A against side B (Welch: the difference of the means against two
  standard errors of the difference, ``se = sqrt(s_a²/n_a + s_b²/n_b)``, sample variances);
- ``≈`` (or ``~``) with a ``margin``: |A − B| within the margin (*holds* when the whole
  two-standard-error interval lies within it, *contradicted* when it lies outside);
- ``!=``: A and B differ by more than two standard errors (e.g. saved against direct FID);
- ``increasing`` / ``decreasing`` over a grid parameter (``over``): the end points of the
  grid differ that way (Welch, as above) and the Spearman rank correlation of the seed means
  over the grid has the stated sign;
- ``for_each``: the pairwise relation at every value of the named keys (grid parameters,
  ``model``, ``dataset``, ``target``) that both sides have.

Verdicts (:data:`VERDICTS`), from records only:

- *holds*: the relation holds on seed means and the difference exceeds two standard errors
  (for trends: the end points do and the rank correlation has the stated sign);
- *holds, not significant*: the relation holds on the means, within the noise;
- *fails, not significant*: the means go the other way, within the noise;
- *contradicted*: the opposite is significant;
- *not measured*: a record is missing, or a side has fewer than two seeds (one seed gives
  no standard error), or the spec has no such preset. Never a pass.

A finding with several checks takes the worst verdict of its checks (in the order above,
*not measured* worst). A NaN value counts as missing for its seed.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import FactorbenchError

VERDICTS = ("holds", "holds, not significant", "fails, not significant", "contradicted", "not measured")
#: the worst verdict of a finding's checks wins; "not measured" is the worst of all
_ORDER = {v: i for i, v in enumerate(VERDICTS)}
PAIRWISE = ("<", ">", "≈", "~", "!=")
TRENDS = ("increasing", "decreasing")
#: selector keys that are not grid parameters
_SPECIAL_KEYS = ("model", "metric", "dataset", "target")
#: ``target = "own"`` selects values about the cell's own dataset (records without a target)
OWN = "own"


def record_key(record: Dict[str, Any], key: str) -> Any:
    """The value of ``key`` for a record: its model, training dataset, target (a value
    without a target is about the cell's own dataset, ``"own"``) or a grid parameter."""
    if key == "model":
        return record["model"]
    if key == "dataset":
        return record["dataset"]["name"]
    if key == "target":
        return record.get("target") or OWN
    if key == "metric":
        return record["metric"]
    return record.get("grid", {}).get(key)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


@dataclass(frozen=True)
class Selector:
    """Which records a side of a check reads: every given key must match (``grid`` values
    compare as numbers, so 4 and 4.0 are one value)."""

    metric: str
    keys: Tuple[Tuple[str, Any], ...] = ()

    def matches(self, record: Dict[str, Any]) -> bool:
        if record["metric"] != self.metric:
            return False
        return all(_same(record_key(record, k), v) for k, v in self.keys)

    def describe(self) -> str:
        bits = [f"{k}={v}" for k, v in self.keys]
        return self.metric + (f" [{', '.join(bits)}]" if bits else "")


@dataclass(frozen=True)
class Check:
    relation: str
    a: Selector
    b: Optional[Selector] = None
    over: Optional[str] = None
    for_each: Tuple[str, ...] = ()
    margin: Optional[float] = None
    #: {grid parameter: (min, max)} inclusive bounds on the grid values used (None: open)
    where: Tuple[Tuple[str, Optional[float], Optional[float]], ...] = ()

    def admits(self, record: Dict[str, Any]) -> bool:
        for key, lo, hi in self.where:
            v = record_key(record, key)
            if v is None or not isinstance(v, (int, float)):
                return False
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                return False
        return True


@dataclass(frozen=True)
class Finding:
    id: str
    section: str
    claim: str
    thesis: str
    benchmark: str
    checks: Tuple[Check, ...]
    note: str = ""


@dataclass
class CheckResult:
    verdict: str
    ours: str
    detail: str = ""


@dataclass
class FindingResult:
    finding: Finding
    preset: str
    verdict: str
    ours: str
    seeds: int
    checks: List[CheckResult] = field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        f = self.finding
        return {"id": f.id, "section": f.section, "claim": f.claim, "thesis": f.thesis, "benchmark": f.benchmark,
                "preset": self.preset, "seeds": self.seeds, "ours": self.ours, "verdict": self.verdict,
                "checks": [{"verdict": c.verdict, "ours": c.ours, "detail": c.detail} for c in self.checks]}


# ---------------------------------------------------------------------------- loading
def findings_file() -> Path:
    from ..paths import project_root

    return project_root() / "results" / "thesis" / "findings.toml"


def _selector(raw: Any, metric: Optional[str], where: str) -> Selector:
    if not isinstance(raw, dict):
        raise FactorbenchError(f"{where}: a side must be a table such as {{ model = \"vae\" }}")
    raw = dict(raw)
    metric = raw.pop("metric", metric)
    if not isinstance(metric, str) or not metric:
        raise FactorbenchError(f"{where}: no metric (give `metric` in the check or on the side)")
    keys = []
    for k, v in sorted(raw.items()):
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise FactorbenchError(f"{where}: {k} must be a string or a number, not {v!r}")
        keys.append((k, v))
    return Selector(metric, tuple(keys))


def _check(raw: Dict[str, Any], where: str) -> Check:
    if not isinstance(raw, dict):
        raise FactorbenchError(f"{where}: a check must be a table")
    known = {"relation", "metric", "a", "b", "over", "for_each", "margin", "where"}
    extra = set(raw) - known
    if extra:
        raise FactorbenchError(f"{where}: unknown key(s) {', '.join(sorted(extra))} (known: {', '.join(sorted(known))})")
    rel = raw.get("relation")
    if rel not in PAIRWISE + TRENDS:
        raise FactorbenchError(f"{where}: relation {rel!r} is not one of {', '.join(PAIRWISE + TRENDS)}")
    a = _selector(raw.get("a", {}), raw.get("metric"), f"{where}.a")
    b = None
    if rel in PAIRWISE:
        if "b" not in raw:
            raise FactorbenchError(f"{where}: relation {rel!r} compares two sides: give `b`")
        b = _selector(raw["b"], raw.get("metric"), f"{where}.b")
    over = raw.get("over")
    if rel in TRENDS and not isinstance(over, str):
        raise FactorbenchError(f"{where}: a trend needs `over`, the grid parameter it runs along")
    if rel in PAIRWISE and over is not None:
        raise FactorbenchError(f"{where}: `over` is for trends; use `for_each` with {rel!r}")
    fe = raw.get("for_each", ())
    fe = (fe,) if isinstance(fe, str) else tuple(fe)
    if not all(isinstance(k, str) for k in fe):
        raise FactorbenchError(f"{where}: for_each must name keys (strings)")
    margin = raw.get("margin")
    if rel in ("≈", "~"):
        if not isinstance(margin, (int, float)) or isinstance(margin, bool) or margin <= 0:
            raise FactorbenchError(f"{where}: relation {rel!r} needs a positive `margin`")
        margin = float(margin)
    elif margin is not None:
        raise FactorbenchError(f"{where}: `margin` is only for ≈")
    bounds = []
    for k, v in sorted((raw.get("where") or {}).items()):
        if not isinstance(v, dict) or not set(v) <= {"min", "max"}:
            raise FactorbenchError(f"{where}.where.{k}: expected {{ min = ..., max = ... }}")
        bounds.append((k, v.get("min"), v.get("max")))
    return Check(rel, a, b, over, fe, margin, tuple(bounds))


def parse_findings(data: Dict[str, Any], source: str = "findings") -> List[Finding]:
    items = data.get("finding")
    if not isinstance(items, list) or not items:
        raise FactorbenchError(f"{source}: no [[finding]] entries")
    out, seen = [], set()
    for i, raw in enumerate(items):
        where = f"{source}: finding {raw.get('id', i)!r}"
        for key in ("id", "section", "claim", "thesis", "benchmark"):
            if not isinstance(raw.get(key), str) or not raw.get(key):
                raise FactorbenchError(f"{where}: `{key}` (a string) is required")
        if raw["id"] in seen:
            raise FactorbenchError(f"{where}: the id is used twice")
        seen.add(raw["id"])
        checks = raw.get("check")
        if not isinstance(checks, list) or not checks:
            raise FactorbenchError(f"{where}: needs at least one [[finding.check]]")
        out.append(Finding(raw["id"], raw["section"], raw["claim"], raw["thesis"], raw["benchmark"],
                           tuple(_check(c, f"{where} check {j + 1}") for j, c in enumerate(checks)),
                           str(raw.get("note", ""))))
    return out


def load_findings(path: Optional[Path] = None) -> List[Finding]:
    p = Path(path) if path else findings_file()
    if not p.exists():
        raise FactorbenchError(f"findings file {p} is missing")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise FactorbenchError(f"{p}: not valid TOML ({exc})") from None
    return parse_findings(data, str(p))


# ---------------------------------------------------------------------------- statistics
def _per_seed(records: Iterable[Dict[str, Any]], sel: Selector, what: str) -> Dict[int, float]:
    """One value per seed; two records for one seed mean the selector is not specific."""
    out: Dict[int, float] = {}
    for r in records:
        if not sel.matches(r):
            continue
        seed = int(r["seed"])
        if seed in out:
            raise FactorbenchError(f"{what}: {sel.describe()} matches more than one record of seed {seed} "
                                   "(name the model, grid value, dataset or target)")
        v = r.get("value")
        out[seed] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
    return {s: v for s, v in out.items() if math.isfinite(v)}


def _fmt(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.4g}"


def _stats(values: Sequence[float]) -> Tuple[float, float, int]:
    n = len(values)
    mean = float(np.mean(values)) if n else math.nan
    var = float(np.var(values, ddof=1)) if n >= 2 else math.nan
    return mean, var, n


def _describe_side(values: Sequence[float]) -> str:
    mean, var, n = _stats(values)
    if n == 0:
        return "missing"
    if n == 1:
        return f"{_fmt(mean)} (1 seed)"
    return f"{_fmt(mean)} ± {_fmt(math.sqrt(var / n))}"


def compare_pairwise(a: Sequence[float], b: Sequence[float], relation: str,
                     margin: Optional[float] = None) -> CheckResult:
    """The verdict of ``A relation B`` on two lists of per-seed values (see the module)."""
    ours = f"{_describe_side(a)} vs {_describe_side(b)}"
    ma, va, na = _stats(a)
    mb, vb, nb = _stats(b)
    if na < 2 or nb < 2:
        return CheckResult("not measured", ours, "fewer than two seeds on a side" if na and nb else "no records")
    diff = ma - mb
    two_se = 2 * math.sqrt(va / na + vb / nb)
    detail = f"Δ = {_fmt(diff)}, 2·SE = {_fmt(two_se)}"
    if relation in ("<", ">"):
        signed = diff if relation == ">" else -diff
        if signed > two_se:
            v = "holds"
        elif -signed > two_se:
            v = "contradicted"
        elif signed > 0:
            v = "holds, not significant"
        else:
            v = "fails, not significant"
    elif relation in ("≈", "~"):
        d = abs(diff)
        if d + two_se <= margin:
            v = "holds"
        elif d - two_se > margin:
            v = "contradicted"
        elif d <= margin:
            v = "holds, not significant"
        else:
            v = "fails, not significant"
        detail += f", margin {_fmt(margin)}"
    elif relation == "!=":
        v = "holds" if abs(diff) > two_se else "fails, not significant"
    else:  # pragma: no cover - parse_findings admits only the relations above
        raise ValueError(relation)
    return CheckResult(v, ours, detail)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when a side is constant."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    if np.std(rx) == 0 or np.std(ry) == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def compare_trend(series: Dict[float, Sequence[float]], relation: str, over: str) -> CheckResult:
    """``increasing``/``decreasing`` over the grid: the end points (Welch, as pairwise) and
    the sign of the rank correlation of the seed means."""
    points = sorted((k, v) for k, v in series.items() if len(v))
    if len(points) < 2:
        return CheckResult("not measured", "fewer than two grid values", "")
    (x0, first), (x1, last) = points[0], points[-1]
    end = compare_pairwise(last, first, ">" if relation == "increasing" else "<")
    means = [float(np.mean(v)) for _, v in points]
    rho = spearman([k for k, _ in points], means)
    ours = f"{over} {_fmt(x0)}→{_fmt(x1)}: {_describe_side(first)} → {_describe_side(last)}, ρ = {_fmt(rho)}"
    detail = end.detail + f", {len(points)} grid values"
    if end.verdict == "not measured":
        return CheckResult("not measured", ours, end.detail)
    want = 1 if relation == "increasing" else -1
    rho_ok = math.isfinite(rho) and rho * want > 0
    if end.verdict == "holds" and not rho_ok:
        return CheckResult("holds, not significant", ours, detail + " (end points differ, the ranks do not follow)")
    if end.verdict == "holds, not significant" and not rho_ok:
        return CheckResult("fails, not significant", ours, detail)
    return CheckResult(end.verdict, ours, detail)


def worst(verdicts: Iterable[str]) -> str:
    vs = list(verdicts)
    return max(vs, key=_ORDER.__getitem__) if vs else "not measured"


# ---------------------------------------------------------------------------- evaluation
def _groups(records: List[Dict[str, Any]], keys: Sequence[str]) -> List[Tuple[Any, ...]]:
    seen = []
    for r in records:
        k = tuple(record_key(r, key) for key in keys)
        if all(v is not None for v in k) and not any(_tuple_same(k, s) for s in seen):
            seen.append(k)
    return sorted(seen, key=lambda t: tuple(str(x) for x in t))


def _tuple_same(a: Tuple[Any, ...], b: Tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


def evaluate_check(check: Check, records: List[Dict[str, Any]], what: str) -> CheckResult:
    records = [r for r in records if check.admits(r)]
    if check.relation in TRENDS:
        rows = [r for r in records if check.a.matches(r)]
        series: Dict[float, List[float]] = {}
        for (x,) in _groups(rows, [check.over]):
            sub = [r for r in rows if _same(record_key(r, check.over), x)]
            series[float(x)] = list(_per_seed(sub, check.a, what).values())
        res = compare_trend(series, check.relation, check.over)
        res.ours = f"{check.a.describe()}: {res.ours}"
        return res
    if not check.for_each:
        a = list(_per_seed(records, check.a, what).values())
        b = list(_per_seed(records, check.b, what).values())
        return compare_pairwise(a, b, check.relation, check.margin)
    keys = check.for_each
    ga = _groups([r for r in records if check.a.matches(r)], keys)
    gb = _groups([r for r in records if check.b.matches(r)], keys)
    common = [k for k in ga if any(_tuple_same(k, x) for x in gb)]
    if not common:
        return CheckResult("not measured", "no " + "/".join(keys) + " that both sides have", "")
    # a value only one side has is a missing record of the other: "at every β" is then not measured
    lonely = [k for k in ga + gb if not any(_tuple_same(k, c) for c in common)]
    parts = []
    for k in common:
        sub = [r for r in records if _tuple_same(tuple(record_key(r, key) for key in keys), k)]
        res = compare_pairwise(list(_per_seed(sub, check.a, what).values()),
                               list(_per_seed(sub, check.b, what).values()), check.relation, check.margin)
        label = ", ".join(f"{key}={_fmt(v) if isinstance(v, float) else v}" for key, v in zip(keys, k))
        parts.append((label, res))
    for k in lonely:
        label = ", ".join(f"{key}={_fmt(v) if isinstance(v, float) else v}" for key, v in zip(keys, k))
        parts.append((label, CheckResult("not measured", "one side missing", "a record of one side is missing")))
    verdict = worst(r.verdict for _, r in parts)
    ours = "; ".join(f"{label}: {r.ours}" for label, r in parts)
    detail = "; ".join(f"{label}: {r.verdict} ({r.detail})" for label, r in parts)
    return CheckResult(verdict, ours, detail)


def evaluate_finding(finding: Finding, records: List[Dict[str, Any]], preset: str) -> FindingResult:
    """The verdict of one finding on the records of its benchmark's preset."""
    checks = [evaluate_check(c, records, f"finding {finding.id}") for c in finding.checks]
    seeds = len({int(r["seed"]) for r in records})
    ours = " | ".join(c.ours for c in checks)
    return FindingResult(finding, preset, worst(c.verdict for c in checks), ours, seeds, checks)


def records_for(benchmark: str, preset: str, results: Path) -> Optional[List[Dict[str, Any]]]:
    """The current records of a benchmark's preset, or None when the spec has no such preset."""
    from .output import records_of_spec
    from .spec import load_spec
    from .store import read_records

    spec = load_spec(benchmark)
    if preset not in spec.presets:
        return None
    return records_of_spec(spec, spec.preset(preset), read_records(results, spec.name, preset))


def check_findings(findings: Sequence[Finding], preset: str, results: Path) -> List[FindingResult]:
    out, cache = [], {}
    for f in findings:
        if f.benchmark not in cache:
            cache[f.benchmark] = records_for(f.benchmark, preset, results)
        recs = cache[f.benchmark]
        if recs is None:
            out.append(FindingResult(f, preset, "not measured", f"{f.benchmark} has no {preset} preset", 0))
            continue
        out.append(evaluate_finding(f, recs, preset))
    return out


def select(findings: Sequence[Finding], benchmarks: Sequence[str]) -> List[Finding]:
    if not benchmarks:
        return list(findings)
    return [f for f in findings if f.benchmark in set(benchmarks)]


def render_markdown(results: Sequence[FindingResult]) -> str:
    """claim | thesis | ours | verdict, one line a finding, with the preset and seeds."""
    lines = ["| id | claim (thesis section) | thesis | ours (preset, seeds) | verdict |", "|---|---|---|---|---|"]
    for r in results:
        f = r.finding
        cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
        lines.append(f"| {f.id} | {cell(f.claim)} ({f.section}) | {cell(f.thesis)} | "
                     f"{cell(r.ours)} ({r.preset}, {r.seeds} seeds) | {r.verdict} |")
    counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    lines.append("")
    lines.append("verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n))
    return "\n".join(lines)


def findings_block(benchmark: str, preset: str, results: Path, path: Optional[Path] = None) -> Optional[str]:
    """The findings of one benchmark as a Markdown block to print under its table (None when
    the findings file has none for it)."""
    mine = select(load_findings(path), [benchmark])
    if not mine:
        return None
    return f"Findings ({benchmark}, {preset}):\n\n" + render_markdown(check_findings(mine, preset, results))
