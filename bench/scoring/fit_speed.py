"""Fit time of our BG/NBD and Pareto/NBD against the `lifetimes` package, on the same arrays, in the same run.

lifetimes is not a dependency of the project: install it in a throw-away virtualenv and point the bench at
its interpreter, e.g.

    python3 -m venv /tmp/lt && /tmp/lt/bin/pip install lifetimes
    .venv/bin/python bench/scoring/fit_speed.py --lifetimes-python /tmp/lt/bin/python

Data: the CDNOW sample summary in tests/data (2,357 customers, 78 weeks: the published estimates' data set)
and, when lifetimes is there, the full CDNOW history its wheel ships (CDNOW_master.txt: 23,570 customers,
69,659 orders), summarised over its first 39 weeks at day resolution in weeks, as our batch does. Both sides
get the per-customer (x, t_x, T) arrays and fit with their defaults; lifetimes runs in a worker process that
stays up, and the two alternate, so both see the same load on the machine. Per dataset and model: the median
and best of --repeats fits, the speed-up of the medians, each side's parameters and the log-likelihood of
each side's parameters (ours, so the optima can be compared). Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from crm_scoring.clv import NBDModel, ParetoNBDModel, bgnbd, paretonbd
from crm_scoring.clv.summary import from_transactions, group

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data" / "cdnow_customers_summary.csv"
CALIBRATION_WEEKS = 39
MODELS: dict[str, NBDModel | ParetoNBDModel] = {"bgnbd": bgnbd, "paretonbd": paretonbd}

# The lifetimes side: one process, fed one JSON line per fit, answering with the fit's time and parameters
# (imports and data loading are not timed).
WORKER = r"""
import json, sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
import lifetimes
fitters = {"bgnbd": lifetimes.BetaGeoFitter, "paretonbd": lifetimes.ParetoNBDFitter}
print(json.dumps({"ready": lifetimes.__version__}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    d = np.load(job["path"])
    x, t_x, T = d["x"].astype(int), d["t_x"], d["T"]
    started = time.perf_counter()
    fitter = fitters[job["model"]]().fit(x, t_x, T)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "params": {k: float(v) for k, v in fitter.params_.items()}}), flush=True)
"""


def cdnow_sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.genfromtxt(SAMPLE, delimiter=",", names=True)
    return d["frequency"], d["recency"], d["T"]


def cdnow_master(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first CALIBRATION_WEEKS weeks of the full CDNOW history: repeat purchase days, last purchase and
    age in weeks (several orders on one day are one purchase day)."""
    raw = np.loadtxt(path, skiprows=1, dtype=str)
    customer = raw[:, 0].astype(np.int64) - 1
    start = date(1997, 1, 1).toordinal()
    day = np.array([date(int(s[:4]), int(s[4:6]), int(s[6:])).toordinal() - start for s in raw[:, 1]])
    end = CALIBRATION_WEEKS * 7
    keep = day < end
    s = from_transactions(customer[keep], day[keep] / 7.0, end / 7.0, unit_days=7.0)
    seen = s.T > 0
    return s.x[seen], s.t_x[seen], s.T[seen]


class Lifetimes:
    def __init__(self, python: str) -> None:
        self.proc = subprocess.Popen(
            [python, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.proc.stdout is not None
        self.version = json.loads(self.proc.stdout.readline())["ready"]

    def fit(self, path: Path, model: str) -> dict:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"path": str(path), "model": model}) + "\n")
        return json.loads(self.proc.stdout.readline())

    def data_dir(self, python: str) -> Path:
        out = subprocess.run(
            [python, "-c", "import lifetimes.datasets as d, os; print(os.path.dirname(d.__file__))"],
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(out.stdout.strip())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _fmt(params: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items())


def bench(name: str, arrays: tuple, lifetimes: Lifetimes | None, repeats: int, tmp: Path) -> None:
    x, t_x, T = arrays
    path = tmp / f"{name}.npz"
    np.savez(path, x=x, t_x=t_x, T=T)
    distinct = len(group(x, t_x, T)[0])
    print(f"\n{name}: {len(x):,} customers, {distinct:,} distinct (x, t_x, T), {int(x.sum()):,} repeat purchase days")
    for model_name, model in MODELS.items():
        ours, theirs, fit, their_params = [], [], None, None
        for _ in range(repeats):
            started = time.perf_counter()
            fit = model.fit(x, t_x, T)
            ours.append(time.perf_counter() - started)
            if lifetimes is not None:
                answer = lifetimes.fit(path, model_name)
                theirs.append(answer["seconds"])
                their_params = answer["params"]
        assert fit is not None
        line = f"  {model_name:10s} ours      median {statistics.median(ours):7.3f} s  best {min(ours):7.3f} s"
        print(f"{line}  LL {fit.log_likelihood:.2f}  {_fmt(fit.params)}")
        if their_params is not None:
            ll = float(model.log_likelihood(tuple(their_params.values()), x, t_x, T).sum())
            line = f"  {'':10s} lifetimes median {statistics.median(theirs):7.3f} s  best {min(theirs):7.3f} s"
            print(f"{line}  LL {ll:.2f}  {_fmt(their_params)}")
            print(f"  {'':10s} speed-up (medians) {statistics.median(theirs) / statistics.median(ours):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lifetimes-python", help="interpreter of a virtualenv with lifetimes installed")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    lifetimes = Lifetimes(args.lifetimes_python) if args.lifetimes_python else None
    try:
        datasets = {"CDNOW sample (78 weeks)": cdnow_sample()}
        if lifetimes is not None:
            print(f"lifetimes {lifetimes.version} ({args.lifetimes_python})")
            master = lifetimes.data_dir(args.lifetimes_python) / "CDNOW_master.txt"
            datasets[f"CDNOW master (first {CALIBRATION_WEEKS} weeks)"] = cdnow_master(master)
        else:
            print("lifetimes not given (--lifetimes-python): our fits only")
        with tempfile.TemporaryDirectory() as tmp:
            for name, arrays in datasets.items():
                bench(name, arrays, lifetimes, args.repeats, Path(tmp))
    finally:
        if lifetimes is not None:
            lifetimes.close()


if __name__ == "__main__":
    main()
