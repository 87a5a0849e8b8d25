"""With no extras installed, ``import cachemere`` works and every backend that needs one names it.

The check runs in a fresh virtual environment that has no site-packages of its
own (so none of the optional libraries this test run has), importing
cachemere from the source tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cachemere

SOURCE_ROOT = Path(cachemere.__file__).resolve().parents[1]

PROBE = textwrap.dedent(
    """
    import json, sys
    import cachemere
    from cachemere import CacheHandler, cache

    cache.set("k", "v")
    report = {"locmem": cache.get("k"), "errors": {}}
    backends = {
        "db": ("cachemere.backends.db.DatabaseCache", "t"),
        "redis": ("cachemere.backends.redis.RedisCache", "redis://127.0.0.1:1"),
        "pymemcache": ("cachemere.backends.memcached.PyMemcacheCache", "127.0.0.1:1"),
        "pylibmc": ("cachemere.backends.memcached.PyLibMCCache", "127.0.0.1:1"),
        "files": ("cachemere.backends.filebased.FileBasedCache", sys.argv[1]),
    }
    for name, (backend, location) in backends.items():
        try:
            made = CacheHandler({"x": {"BACKEND": backend, "LOCATION": location}})["x"]
            made.set("k", "v")
            report["errors"][name] = None if made.get("k") == "v" else "wrong value"
        except Exception as exc:
            report["errors"][name] = f"{type(exc).__name__}: {exc}"
    report["fragment_key"] = cachemere.make_template_fragment_key("a.fragment")
    import cachemere.templates  # the package itself imports no engine
    import cachemere.contrib  # nor does the integrations package
    import importlib
    for name in ("templates.jinja", "contrib.flask", "contrib.starlette"):
        try:
            importlib.import_module("cachemere." + name)
            report[name] = None
        except ImportError as exc:
            report[name] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(report))
    """
)


def test_no_extras(tmp_path: Path) -> None:
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(SOURCE_ROOT)
    files = tmp_path / "files"
    files.mkdir()
    done = subprocess.run(
        [str(python), "-c", PROBE, str(files)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # The venv really has none of the extras.
    libraries = (
        "redis",
        "sqlalchemy",
        "pymemcache",
        "pylibmc",
        "psycopg",
        "jinja2",
        "flask",
        "starlette",
        "django",
    )
    check = f"import importlib.util as u; print([m for m in {libraries!r} if u.find_spec(m)])"
    found = subprocess.run([str(python), "-c", check], env=env, capture_output=True, text=True, timeout=60)
    assert found.stdout.strip() == "[]", found.stderr
    report = json.loads(done.stdout)
    assert report["locmem"] == "v"
    errors = report["errors"]
    assert errors["files"] is None
    extras = {"db": "sql", "redis": "redis", "pymemcache": "memcached", "pylibmc": "pylibmc"}
    for name, extra in extras.items():
        error = errors[name]
        assert error is not None and f"pip install 'cachemere[{extra}]'" in error, (name, error)
        assert "for cache 'x'" in error
    assert report["fragment_key"] == "template.cache.a.fragment.d41d8cd98f00b204e9800998ecf8427e"
    for name, extra in (
        ("templates.jinja", "jinja"),
        ("contrib.flask", "flask"),
        ("contrib.starlette", "starlette"),
    ):
        assert report[name] is not None and f"pip install 'cachemere[{extra}]'" in report[name], name
