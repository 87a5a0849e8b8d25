"""The command line: ``cachemere check`` and ``get/set/delete/clear``, in process and as a real subprocess."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import cachemere
from cachemere.backends.locmem import LocMemCache
from cachemere.cli import main
from cachemere.conf import ENVIRONMENT_VARIABLE

LOCMEM = "cachemere.backends.locmem.LocMemCache"
DUMMY = "cachemere.backends.dummy.DummyCache"


class FailingCache(LocMemCache):
    """Builds fine, fails on every write (a server that refuses)."""

    def set(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("refused by the test")


class LyingCache(LocMemCache):
    """Stores something other than what it was given."""

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return "not what you stored"


pytestmark = pytest.mark.usefixtures("fresh_settings")


@pytest.fixture
def configured() -> None:
    cachemere.configure(
        CACHES={
            "default": {"BACKEND": LOCMEM, "LOCATION": "cli-default"},
            "other": {"BACKEND": LOCMEM, "LOCATION": "cli-other", "KEY_PREFIX": "p"},
            "off": {"BACKEND": DUMMY},
        }
    )
    for alias in cachemere.caches:
        cachemere.caches[alias].clear()


def rows(output: str) -> dict[str, str]:
    """The check table's lines, by alias."""
    lines = output.strip().splitlines()
    assert lines[0].split() == ["ALIAS", "BACKEND", "LOCATION", "LATENCY", "RESULT"]
    return {line.split()[0]: line for line in lines[1:]}


# -- check -----------------------------------------------------------------


def test_check_every_alias(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    table = rows(capsys.readouterr().out)
    assert set(table) == {"default", "other", "off"}
    assert LOCMEM in table["default"] and "cli-default" in table["default"]
    assert table["default"].endswith(" ok")
    assert " ms " in table["other"]
    assert "ok (stores nothing)" in table["off"]


def test_check_leaves_no_probe_behind(configured: None) -> None:
    assert main(["check", "--cache", "default"]) == 0
    assert len(cachemere.caches["default"]._data) == 0  # type: ignore[attr-defined]


def test_check_one_alias(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--cache", "other"]) == 0
    assert set(rows(capsys.readouterr().out)) == {"other"}


def test_check_unknown_alias(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--cache", "nope"]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "default" in err


def test_check_reports_failures(capsys: pytest.CaptureFixture[str]) -> None:
    cachemere.configure(
        CACHES={
            "default": {"BACKEND": LOCMEM, "LOCATION": "cli-fail"},
            "refusing": {"BACKEND": f"{__name__}.FailingCache", "LOCATION": "cli-refusing"},
            "lying": {"BACKEND": LyingCache, "LOCATION": "cli-lying"},
            "missing": {"BACKEND": "cachemere.backends.nothere.Cache"},
        }
    )
    assert main(["check"]) == 1
    captured = capsys.readouterr()
    table = rows(captured.out)
    assert table["default"].endswith(" ok")
    assert "error: ConnectionError: refused by the test" in table["refusing"]
    assert "error: read back 'not what you stored'" in table["lying"]
    assert f"{__name__}.LyingCache" in table["lying"]  # a class BACKEND is shown by its path
    assert "error: InvalidCacheBackendError" in table["missing"]
    assert "cachemere.backends.nothere" in table["missing"]
    assert "3 of 4 caches failed" in captured.err


def test_check_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    os.environ[ENVIRONMENT_VARIABLE] = "no_such_settings_module_here"
    assert main(["check"]) == 2
    assert "no_such_settings_module_here" in capsys.readouterr().err


def test_check_default_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert set(rows(capsys.readouterr().out)) == {"default"}


# -- get / set / delete / clear ----------------------------------------------


def test_set_get_delete(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "greeting", "hello world"]) == 0
    assert capsys.readouterr().out == ""
    assert cachemere.cache.get("greeting") == "hello world"
    assert main(["get", "greeting"]) == 0
    assert capsys.readouterr().out == "hello world\n"
    assert main(["delete", "greeting"]) == 0
    assert cachemere.cache.get("greeting") is None
    assert main(["delete", "greeting"]) == 1
    assert "'greeting' not found" in capsys.readouterr().err


def test_values_are_strings_without_json(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "n", "42"]) == 0
    assert cachemere.cache.get("n") == "42"
    cachemere.cache.set("obj", {"a": [1, 2]})
    assert main(["get", "obj"]) == 0
    assert capsys.readouterr().out == "{'a': [1, 2]}\n"


def test_json(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "doc", '{"a": [1, 2.5, null], "b": "x"}', "--json"]) == 0
    assert cachemere.cache.get("doc") == {"a": [1, 2.5, None], "b": "x"}
    assert main(["get", "doc", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"a": [1, 2.5, None], "b": "x"}
    assert main(["set", "n", "7", "--json"]) == 0
    assert cachemere.cache.incr("n") == 8


def test_bad_json(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "doc", "{not json", "--json"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert cachemere.cache.get("doc") is None
    cachemere.cache.set("odd", {1, 2})
    assert main(["get", "odd", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "not JSON" in captured.err


def test_get_missing(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "absent"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "'absent' not found in cache 'default'" in captured.err


def test_stored_none_is_not_missing(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    cachemere.cache.set("nothing", None)
    assert main(["get", "nothing", "--json"]) == 0
    assert capsys.readouterr().out == "null\n"


def test_cache_and_version_options(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    other = cachemere.caches["other"]
    assert main(["set", "k", "v2", "--cache", "other", "--version", "2"]) == 0
    assert other.get("k", version=2) == "v2"
    assert other.get("k") is None
    assert cachemere.cache.get("k", version=2) is None  # another LOCATION
    assert main(["get", "k", "--cache", "other"]) == 1
    assert main(["get", "k", "--cache", "other", "--version", "2"]) == 0
    assert capsys.readouterr().out == "v2\n"
    assert main(["delete", "k", "--cache", "other", "--version", "2"]) == 0
    assert other.get("k", version=2) is None


def test_timeouts(configured: None) -> None:
    assert main(["set", "gone", "v", "--timeout", "0"]) == 0
    assert cachemere.cache.get("gone") is None
    assert main(["set", "kept", "v", "--timeout", "none"]) == 0
    assert cachemere.cache._data[cachemere.cache.make_key("kept")][0] is None  # type: ignore[attr-defined]
    assert main(["set", "default", "v"]) == 0
    expiry = cachemere.cache._data[cachemere.cache.make_key("default")][0]  # type: ignore[attr-defined]
    assert expiry is not None


def test_bad_timeout(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["set", "k", "v", "--timeout", "soon"])
    assert info.value.code == 2
    assert "'soon'" in capsys.readouterr().err


def test_clear(configured: None) -> None:
    cachemere.cache.set_many({"a": 1, "b": 2})
    cachemere.caches["other"].set("a", 1)
    assert main(["clear"]) == 0
    assert cachemere.cache.get_many(["a", "b"]) == {}
    assert cachemere.caches["other"].get("a") == 1  # only the cache named


def test_unknown_alias(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "k", "--cache", "nope"]) == 2
    assert "'nope'" in capsys.readouterr().err


def test_backend_error(capsys: pytest.CaptureFixture[str]) -> None:
    cachemere.configure(
        CACHES={"default": {"BACKEND": f"{__name__}.FailingCache", "LOCATION": "cli-failing-ops"}}
    )
    assert main(["set", "k", "v"]) == 2
    assert "ConnectionError: refused by the test" in capsys.readouterr().err


def test_dummy(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "k", "v", "--cache", "off"]) == 0
    assert main(["get", "k", "--cache", "off"]) == 1


def test_help_warns_about_local_memory(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("get", "set", "delete", "clear"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "inside one process" in " ".join(capsys.readouterr().out.split())


def test_settings_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_option_settings.py").write_text(
        f'CACHES = {{"default": {{"BACKEND": "{LOCMEM}"}}, "via-option": {{"BACKEND": "{DUMMY}"}}}}\n'
    )
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])  # not syspath_prepend: see test_settings
    importlib.invalidate_caches()
    assert main(["--settings", "cli_option_settings", "check", "--cache", "via-option"]) == 0
    assert "via-option" in cachemere.caches


# -- a real process ------------------------------------------------------------


def run_cli(tmp_path: Path, module: str, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if k != ENVIRONMENT_VARIABLE}
    env[ENVIRONMENT_VARIABLE] = module
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    script = Path(sys.executable).with_name("cachemere")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "cachemere.cli"]
    return subprocess.run(
        [*command, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_subprocess_check_ok(tmp_path: Path) -> None:
    done = run_cli(
        tmp_path,
        "cm_ok_settings",
        """
        CACHES = {
            "default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": "sub"},
            "nothing": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
        }
        """,
        "check",
    )
    assert done.returncode == 0, done.stderr
    table = rows(done.stdout)
    assert set(table) == {"default", "nothing"}
    assert table["default"].endswith(" ok")
    assert DUMMY in table["nothing"]  # the Django path was mapped to ours


def test_subprocess_check_failing(tmp_path: Path) -> None:
    done = run_cli(
        tmp_path,
        "cm_failing_settings",
        """
        from cachemere.backends.locmem import LocMemCache

        class RefusingCache(LocMemCache):
            def set(self, *args, **kwargs):
                raise OSError("disk on fire")

        CACHES = {
            "default": {"BACKEND": "cachemere.backends.locmem.LocMemCache"},
            "flaky": {"BACKEND": "cm_failing_settings.RefusingCache", "LOCATION": "x"},
        }
        """,
        "check",
    )
    assert done.returncode == 1
    table = rows(done.stdout)
    assert "error: OSError: disk on fire" in table["flaky"]
    assert table["default"].endswith(" ok")
    assert "flaky" in done.stderr


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in (ENVIRONMENT_VARIABLE, "PYTHONPATH")}


def _cli_command() -> list[str]:
    script = Path(sys.executable).with_name("cachemere")
    assert script.exists(), "the cachemere console script is installed with the package"
    return [str(script)]


def test_settings_package_in_the_current_directory_needs_no_pythonpath(tmp_path: Path) -> None:
    package = tmp_path / "mysite_cli"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(
        f'CACHES = {{"default": {{"BACKEND": "{LOCMEM}"}}, "from-mysite": {{"BACKEND": "{DUMMY}"}}}}\n'
    )
    done = subprocess.run(
        [*_cli_command(), "--settings", "mysite_cli.settings", "check"],
        env=_clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert set(rows(done.stdout)) == {"default", "from-mysite"}


def test_a_bad_settings_option_is_named_as_the_option(tmp_path: Path) -> None:
    done = subprocess.run(
        [*_cli_command(), "--settings", "no_such_site.settings", "check"],
        env=_clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--settings 'no_such_site.settings' cannot be imported" in done.stderr
    assert ENVIRONMENT_VARIABLE not in done.stderr


def test_python_dash_m_cachemere(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cachemere", "check"],
        env=_clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert rows(done.stdout)["default"].endswith(" ok")


@pytest.mark.parametrize(("backend", "kind"), [(LOCMEM, "local-memory"), (DUMMY, "dummy")])
def test_operations_on_a_per_process_cache_say_so(
    backend: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cachemere.configure(CACHES={"default": {"BACKEND": backend}})
    assert main(["set", "k", "v"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"is a {kind} cache, which lives and dies with one process" in err


def test_operations_on_a_shared_cache_add_no_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    backend = "cachemere.backends.filebased.FileBasedCache"
    cachemere.configure(CACHES={"default": {"BACKEND": backend, "LOCATION": str(tmp_path)}})
    assert main(["set", "k", "v"]) == 0
    assert main(["get", "k"]) == 0
    out, err = capsys.readouterr()
    assert out == "v\n"
    assert err == ""


@pytest.mark.parametrize(
    "location",
    [
        "redis://:s3cret-pw@127.0.0.1:1/0",
        "redis://alice:s3cret-pw@127.0.0.1:1",
        "redis://127.0.0.1:1/0?password=s3cret-pw",
        "unix://:s3cret-pw@/tmp/no-such-redis.sock",
        "unix:///tmp/no-such-redis.sock?db=0&password=s3cret-pw",
        ["redis://127.0.0.1:1", "redis://:s3cret-pw@127.0.0.1:2"],
    ],
)
def test_check_never_prints_a_password(location: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cachemere.configure(
        CACHES={
            "default": {"BACKEND": LOCMEM},
            "shared": {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": location},
        }
    )
    assert main(["check"]) == 1  # nothing listens there: the row says why, without the password
    out, err = capsys.readouterr()
    assert "s3cret-pw" not in out + err
    assert "***" in rows(out)["shared"]
