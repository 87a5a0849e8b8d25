"""Run Django's own cache tests (from Django's sdist, unchanged) against cachemere's backends.

The sdist is fetched with ``pip download`` into
``~/.cache/cachemere-django-tests/<version>/`` (``CACHEMERE_DJANGO_TESTS_CACHE``
overrides the directory), never into the repository.  Django 5.2 runs in this
interpreter when it is the installed Django; any other version runs in a
virtual environment made once per version beside the sdist, with cachemere
(editable, with its backends' extras) and that Django installed.

Each run is ``python -m django test`` with :mod:`django_suite_settings` and
the real servers :func:`start_servers` started; outcomes are compared with
``tests/django/expected_failures.txt``.  As a script::

    python tests/helpers/django_suite.py [--django 5.2.19] [--mode cachemere|django]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXPECTED_FILE = REPO / "tests" / "django" / "expected_failures.txt"
PY312 = "/root/.pyenv/versions/3.12.1/bin/python"
EXTRAS = "redis,memcached,pylibmc,postgres"
VERSIONS = {"5.2": "5.2.19", "6.1": "6.1.3"}

#: What every run covers: every backend test class, the middleware, cache_page,
#: handler and fragment tests of tests/cache, the {% cache %} tag tests, the
#: cache decorators' tests and the cache-backed session tests.
LABELS = [
    "cache",
    "template_tests.syntax_tests.test_cache",
    "decorators.test_cache",
    "sessions_tests.tests.CacheSessionTests",
    "sessions_tests.tests.CacheDBSessionTests",
    "sessions_tests.tests.CacheDBSessionWithTimeZoneTests",
]
#: Run again with DATABASES on PostgreSQL: the database cache's classes.
POSTGRES_LABELS = [
    "cache.tests.DBCacheTests",
    "cache.tests.DBCacheWithTimeZoneTests",
    "cache.tests.CreateCacheTableForDBCacheTests",
    "sessions_tests.tests.CacheDBSessionTests",
]
POSTGRES_PREFIX = "postgresql:"


def cache_root() -> Path:
    default = Path.home() / ".cache" / "cachemere-django-tests"
    return Path(os.environ.get("CACHEMERE_DJANGO_TESTS_CACHE", default))


def _pip(python: str, *args: str) -> None:
    result = subprocess.run([python, "-m", "pip", "--disable-pip-version-check", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    if result.returncode:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{result.stdout[-4000:]}")


def tests_dir(version: str, python: str = sys.executable) -> Path:
    """Django ``version``'s tests/ directory, from its sdist (downloaded once)."""
    root = cache_root() / version
    tests = root / f"django-{version}" / "tests"
    if (tests / "cache" / "tests.py").exists():
        return tests
    root.mkdir(parents=True, exist_ok=True)
    sdist = root / f"django-{version}.tar.gz"
    if not sdist.exists():
        _pip(python, "download", f"Django=={version}", "--no-binary", ":all:", "--no-deps", "-d", str(root))
    with tarfile.open(sdist) as archive:
        archive.extractall(root, filter="data")
    return tests


def python_for(version: str) -> str:
    """An interpreter with Django ``version`` and cachemere: this one, or a venv made once."""
    try:
        import django

        if django.__version__ == version:
            return sys.executable
    except ImportError:
        pass
    venv = cache_root() / f"venv-{version}"
    python = venv / "bin" / "python"
    marker = venv / ".cachemere-ready"
    if marker.exists():
        return str(python)
    base = PY312 if os.path.exists(PY312) else sys.executable
    if not python.exists():
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    _pip(str(python), "install", "-q", "-e", f"{REPO}[{EXTRAS}]", f"Django=={version}")
    marker.write_text(version)
    return str(python)


@dataclass
class Servers:
    redis_url: str
    memcached: str
    pg_host: str
    pg_port: int
    postgres: Any = None


@contextmanager
def start_servers() -> Iterator[Servers]:
    """redis, memcached and PostgreSQL on free ports, stopped (by PID) afterwards."""
    from servers.memcached import MemcachedServer
    from servers.postgres import start_postgres
    from servers.redis import RedisServer

    base = Path(tempfile.mkdtemp(prefix="cachemere-djsuite-"))
    started: list[object] = []
    try:
        redis = RedisServer(base / "redis").start()
        started.append(redis)
        memcached = MemcachedServer(base / "memcached").start()
        started.append(memcached)
        postgres = start_postgres()
        started.append(postgres)
        yield Servers(redis.url, memcached.location, "127.0.0.1", postgres.port, postgres)
    finally:
        for server in reversed(started):
            server.stop()  # type: ignore[attr-defined]


def run_django_tests(python: str, tests: Path, mode: str, db: str, servers: Servers,
                     labels: list[str]) -> dict[str, dict[str, str]]:  # fmt: skip
    """Run ``labels`` with Django's test runner; every test's outcome by test id."""
    with tempfile.TemporaryDirectory(prefix="cachemere-djrun-") as tmp:
        results = Path(tmp) / "results.json"
        env = {
            **os.environ,
            "CMDJ_MODE": mode,
            "CMDJ_DB": db,
            "CMDJ_RESULTS": str(results),
            "CMDJ_REDIS_URL": servers.redis_url,
            "CMDJ_MEMCACHED": servers.memcached,
            "CMDJ_PG_HOST": servers.pg_host,
            "CMDJ_PG_PORT": str(servers.pg_port),
            "DJANGO_SETTINGS_MODULE": "helpers.django_suite_settings",
            # Not tests/helpers itself: its redis.py and db.py would shadow the libraries.
            "PYTHONPATH": os.pathsep.join([str(tests), str(REPO / "tests"), str(REPO / "src")]),
            "TMPDIR": tmp,
        }
        env.pop("CACHEMERE_SETTINGS_MODULE", None)
        proc = subprocess.run(
            [python, "-m", "django", "test", "--noinput", "-v", "1", *labels],
            cwd=tests, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        if not results.exists():
            raise RuntimeError(
                f"Django's test run wrote no results (exit {proc.returncode}):\n{proc.stdout[-6000:]}"
            )
        outcomes: dict[str, dict[str, str]] = json.loads(results.read_text())
    return outcomes


def load_expected(path: Path = EXPECTED_FILE) -> dict[str, str]:
    """Test id -> reason, from ``id  # reason`` lines (blank lines and ``#`` lines ignored)."""
    expected = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        test_id, sep, reason = line.partition("#")
        if not sep or not reason.strip():
            raise ValueError(f"{path}:{number}: every entry needs a '# reason'")
        expected[test_id.strip()] = reason.strip()
    return expected


@dataclass
class Summary:
    version: str
    outcomes: dict[str, dict[str, str]]
    expected: dict[str, str]
    backends: str = "cachemere's"

    def ids(self, *outcomes: str) -> list[str]:
        return sorted(t for t, o in self.outcomes.items() if o["outcome"] in outcomes)

    @property
    def failing(self) -> list[str]:
        return self.ids("failed", "error", "unexpected success")

    @property
    def expected_failures(self) -> list[str]:
        return [t for t in self.failing if t in self.expected]

    @property
    def unexplained(self) -> list[str]:
        return [t for t in self.failing if t not in self.expected]

    @property
    def listed_but_passing(self) -> list[str]:
        return [t for t in self.ids("passed") if t in self.expected]

    def report(self) -> str:
        lines = [
            f"Django {self.version} tests against {self.backends} backends: run {len(self.outcomes)}, "
            f"passed {len(self.ids('passed'))}, expected failures {len(self.expected_failures)}, "
            f"unexplained failures {len(self.unexplained)}, skipped by Django {len(self.ids('skipped'))}",
        ]
        for test_id in self.unexplained:
            lines.append(f"UNEXPLAINED {self.outcomes[test_id]['outcome']}: {test_id}")
            lines.append(self.outcomes[test_id]["detail"])
        for test_id in self.listed_but_passing:
            lines.append(f"listed as an expected failure but passes: {test_id}")
        for test_id in self.ids("skipped"):
            lines.append(f"skipped by Django: {test_id}: {self.outcomes[test_id]['detail']}")
        return "\n".join(lines)


def run_all(version: str, mode: str, servers: Servers) -> dict[str, dict[str, str]]:
    """SQLite run of :data:`LABELS` and PostgreSQL run of :data:`POSTGRES_LABELS`, merged.

    The two runs go side by side: most of their time is the tests' sleeps.
    """
    from concurrent.futures import ThreadPoolExecutor

    python = python_for(version)
    tests = tests_dir(version, python)
    with ThreadPoolExecutor(2) as pool:
        sqlite = pool.submit(run_django_tests, python, tests, mode, "sqlite", servers, LABELS)
        postgres = pool.submit(run_django_tests, python, tests, mode, "postgresql", servers, POSTGRES_LABELS)
        outcomes = sqlite.result()
        outcomes.update({POSTGRES_PREFIX + test_id: o for test_id, o in postgres.result().items()})
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--django", default=VERSIONS["5.2"], help="Django version (default %(default)s)")
    parser.add_argument("--mode", default="cachemere", choices=["cachemere", "django"])
    parser.add_argument("--only", nargs="*", help="run only these labels (SQLite)")
    args = parser.parse_args()
    with start_servers() as servers:
        if args.only:
            python = python_for(args.django)
            tests = tests_dir(args.django, python)
            outcomes = run_django_tests(python, tests, args.mode, "sqlite", servers, args.only)
        else:
            outcomes = run_all(args.django, args.mode, servers)
    if args.mode == "cachemere":
        summary = Summary(args.django, outcomes, load_expected())
    else:
        summary = Summary(args.django, outcomes, {}, "Django's own")
    print(summary.report())
    return 1 if summary.unexplained else 0


if __name__ == "__main__":
    sys.path[0] = str(HERE.parent)  # tests/, not tests/helpers (its redis.py shadows redis-py)
    sys.exit(main())
