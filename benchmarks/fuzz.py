"""Run one parser fuzz target of ``tests/fuzz/targets.py`` for a set time.

Uses atheris (coverage-guided, libFuzzer) when it is installed (``pip install -c constraints.txt -e '.[fuzz]'``),
otherwise hypothesis with random and mutated-seed inputs. A finding stops the run with the
traceback and, under atheris, a ``crash-*`` file to reproduce it. Usage::

    python benchmarks/fuzz.py site_catalogue --seconds 300
    python benchmarks/fuzz.py all --seconds 60          # each target in turn
    python benchmarks/fuzz.py count_csv --engine hypothesis
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
FUZZ_DIR = ROOT / "tests" / "fuzz"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: cannot be loaded; fix: run from a checkout of the repository")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _with_atheris(target: str, seconds: int, workdir: Path) -> int:
    import atheris

    with atheris.instrument_imports(include=["sitewatch"]):
        targets = _load("fuzz_targets", FUZZ_DIR / "targets.py")
        # Import the code under test inside the instrumented block so atheris sees its branches.
        import sitewatch.analytics.events
        import sitewatch.analytics.series
        import sitewatch.imagery.metadata
        import sitewatch.imagery.providers
        import sitewatch.planning.tle
        import sitewatch.sites.geojson  # noqa: F401

    corpus = workdir / f"corpus-{target}"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(targets.SEEDS[target]):
        (corpus / f"seed-{i}").write_bytes(seed)
    argv = [sys.argv[0], str(corpus), f"-max_total_time={seconds}", f"-artifact_prefix={workdir}/crash-{target}-"]
    atheris.Setup(argv, targets.TARGETS[target])
    atheris.Fuzz()  # exits the process
    return 0


def _with_hypothesis(target: str, seconds: int) -> int:
    from hypothesis import HealthCheck, given, settings

    targets = _load("fuzz_targets", FUZZ_DIR / "targets.py")
    fn = targets.TARGETS[target]
    deadline, runs = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:

        @given(data=targets.inputs(target))
        @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(data: bytes) -> None:
            fn(data)

        run()
        runs += 200
    print(f"{target}: {runs} inputs in {seconds} s under hypothesis, no finding")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="a target name from tests/fuzz/targets.py, or 'all'")
    parser.add_argument("--seconds", type=int, default=60, help="time per target")
    parser.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "fuzz", help="corpora and crash files")
    args = parser.parse_args()

    names = list(_load("fuzz_targets_names", FUZZ_DIR / "targets.py").TARGETS)
    if args.target == "all":
        # One process per target: atheris.Fuzz() never returns.
        cmd = [sys.executable, __file__, "--seconds", str(args.seconds), "--engine", args.engine]
        codes = [subprocess.call([*cmd, "--workdir", str(args.workdir), name]) for name in names]
        return max(codes)
    if args.target not in names:
        raise SystemExit(f"unknown target {args.target!r}; fix: use one of {', '.join(names)} or 'all'")
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "hypothesis"
    if engine == "atheris":
        args.workdir.mkdir(parents=True, exist_ok=True)
        return _with_atheris(args.target, args.seconds, args.workdir)
    return _with_hypothesis(args.target, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
