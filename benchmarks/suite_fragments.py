"""Template fragments: a page whose fragment costs about 1 ms to render, cached (a hit) and uncached.

Jinja2 with cachemere's ``{% cache %}`` tag against the same template without
the tag, and Django's ``{% cache %}`` tag against its template without it; the
cached systems time hits only (the fragment is stored before timing).  Each
cache is a local-memory one, and the redis column a server of its own
(started with the test helpers, stopped at the end).  Needs the ``[jinja]``,
``[redis]`` and ``[bench]`` extras.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import Case, measure, table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SYSTEMS = ["jinja uncached", "cachemere locmem (hit)", "cachemere redis (hit)",
           "django uncached", "django {% cache %} (hit)"]  # fmt: skip

#: 40 rows of 50 cells: 2000 escaped cells, about 1 ms in Jinja2.
ROWS = [[f"r{r}c{c}<" for c in range(50)] for r in range(40)]
TABLE = (
    "<table>{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>"
    "{% endfor %}</table>"
)
PAGE = "<h1>{{ title }}</h1>{BODY}<footer>{{ user }}</footer>"


def _jinja(handler: Any, cached: bool) -> Callable[[], object]:
    from jinja2 import Environment

    from cachemere.templates.jinja import CacheExtension

    env = Environment(extensions=[CacheExtension], autoescape=True)
    env.fragment_caches = handler  # type: ignore[attr-defined]
    body = f"{{% cache 600 table user %}}{TABLE}{{% endcache %}}" if cached else TABLE
    template = env.from_string(PAGE.replace("{BODY}", body))
    context = {"rows": ROWS, "title": "Report", "user": "alice"}
    return lambda: template.render(context)


def _django(cached: bool) -> Callable[[], object]:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                "LOCATION": "bench-fragments"}},
            TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
        )  # fmt: skip
        django.setup()
    from django.template import engines

    body = "{% load cache %}{% cache 600 table user %}" + TABLE + "{% endcache %}" if cached else TABLE
    template = engines["django"].from_string(PAGE.replace("{BODY}", body))
    context = {"rows": ROWS, "title": "Report", "user": "alice"}
    return lambda: template.render(context)


def main(rounds: int = 7) -> str:
    from cachemere import CacheHandler
    from servers.redis import RedisServer

    directory = Path(tempfile.mkdtemp(prefix="bench-fragments-"))
    server = RedisServer(directory).start()
    try:
        local = CacheHandler({"default": {"BACKEND": "cachemere.backends.locmem.LocMemCache",
                                          "LOCATION": "bench-fragments"}})  # fmt: skip
        remote = CacheHandler({"default": {"BACKEND": "cachemere.backends.redis.RedisCache",
                                           "LOCATION": server.url}})  # fmt: skip
        calls: dict[str, Callable[[], object] | None] = {
            "jinja uncached": _jinja(local, cached=False),
            "cachemere locmem (hit)": _jinja(local, cached=True),
            "cachemere redis (hit)": _jinja(remote, cached=True),
            "django uncached": _django(cached=False),
            "django {% cache %} (hit)": _django(cached=True),
        }
        # Every system renders the same page (the cached ones from the cache after this).
        pages = {name: str(fn()) for name, fn in calls.items() if fn is not None}
        assert len(set(pages.values())) == 1, "the systems render different pages"
        cost = min(timeit.repeat(calls["jinja uncached"], number=20, repeat=5)) / 20  # type: ignore[arg-type]
        case = Case("page with a 2000-cell fragment", calls, number=200)
        measure([case], rounds)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    notes = (
        f"Median (best) renders/s over {rounds} interleaved rounds.  The fragment (40x50 escaped "
        f"cells) takes {cost * 1e3:.2f} ms to render uncached in Jinja2; the cached systems serve it "
        "from the cache, keyed on one vary-on value."
    )
    ratio = {"baseline": "jinja uncached", "subject": "cachemere locmem (hit)"}
    return notes + "\n\n" + table([case], SYSTEMS, **ratio)


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
