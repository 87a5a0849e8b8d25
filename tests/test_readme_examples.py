"""The README's Flask and FastAPI examples, run exactly as printed (each is also a file in examples/)."""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from cachemere.conf import settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _block(name: str) -> str:
    match = re.search(rf"<!-- example: {name} \(.*?\) -->\n```python\n(.*?)```", README, re.S)
    assert match is not None, f"the README has no {name} example"
    return match.group(1)


def _load(name: str, source: str, tmp_path: Path) -> ModuleType:
    path = tmp_path / f"readme_{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"readme_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


@pytest.mark.parametrize(
    "name, path", [("flask", "flask_quickstart.py"), ("fastapi", "fastapi_quickstart.py")]
)
def test_the_readme_prints_the_example_file(name: str, path: str) -> None:
    assert _block(name) == (ROOT / "examples" / path).read_text()


def test_flask_example_as_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _load("flask", _block("flask"), tmp_path)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    ticks = itertools.count()  # every clock reading is new: a page built twice never looks the same
    monkeypatch.setattr("time.strftime", lambda _format: f"t{next(ticks)}")
    client = module.app.test_client()
    first = client.get("/", headers={"Host": "127.0.0.1"})
    second = client.get("/", headers={"Host": "127.0.0.1"})
    assert first.status_code == 200 and b"built at" in first.data
    assert second.data == first.data and "Age" in second.headers  # served by the page cache
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400  # ALLOWED_HOSTS
    visits = [client.get("/visits", headers={"Host": "localhost"}).get_json()["visits"] for _ in range(3)]
    assert visits == [visits[0], visits[0] + 1, visits[0] + 2]  # the store may be shared with other tests
    sidebar = [client.get("/sidebar", headers={"Host": "localhost"}).data.decode() for _ in range(2)]
    assert sidebar[0] != sidebar[1]  # the page is rebuilt, its fragment is not
    assert sidebar[0].split("sidebar at ")[1] == sidebar[1].split("sidebar at ")[1]
    logo = client.get("/logo", headers={"Host": "localhost"})
    assert logo.headers["Content-Type"] == "image/svg+xml"
    assert "max-age=3600" in logo.headers["Cache-Control"]


def test_fastapi_example_as_printed(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    try:
        module = _load("fastapi", _block("fastapi"), tmp_path)
        with TestClient(module.app) as client:
            tea = [client.get("/items/3", params={"q": "tea"}).json() for _ in range(2)]
            milk = client.get("/items/3", params={"q": "milk"}).json()
            assert tea[0] == tea[1] == {"item_id": 3, "q": "tea", "size": 10, "renders": 1}
            assert milk["renders"] == 2
            assert client.get("/renders").json()["items"] == 2
            assert client.get("/renders").headers["Cache-Control"].startswith("max-age=0")
    finally:
        settings.reset()  # the example configures the global settings
