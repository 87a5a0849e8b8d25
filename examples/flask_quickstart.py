"""cachemere on Flask: run ``python examples/flask_quickstart.py`` and open http://127.0.0.1:5000/."""

import os
import time

from flask import Flask, render_template_string

from cachemere.contrib.flask import Cache, cache_control, cache_page, current_cache, never_cache

app = Flask(__name__)
app.config.update(
    # Django's settings, read from app.config: no global configure() needed.
    CACHES={"default": {"BACKEND": "cachemere.backends.locmem.LocMemCache"}},
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
)
Cache(app)  # the app's caches, the {% cache %} tag, caches closed at the end of each request


@app.route("/")
@cache_page(60)  # the whole page, kept 60 s: only the first visit waits
def report() -> str:
    time.sleep(0.5)
    return f"<h1>Report</h1><p>built at {time.strftime('%H:%M:%S')}</p>"


@app.route("/sidebar")
def sidebar() -> str:  # the page is rebuilt every time, its fragment is not
    return render_template_string(
        "<p>page at {{ now() }}</p>{% cache 300 sidebar %}<p>sidebar at {{ now() }}</p>{% endcache %}",
        now=lambda: time.strftime("%H:%M:%S"),
    )


@app.route("/visits")
@never_cache  # never stored, here or in the browser
def visits() -> dict[str, int]:
    current_cache.add("visits", 0)  # the low-level API, on this app's default cache
    return {"visits": current_cache.incr("visits")}


@app.route("/logo")
@cache_control(max_age=3600, public=True)  # for browsers and CDNs, not stored here
def logo() -> tuple[str, dict[str, str]]:
    return "<svg xmlns='http://www.w3.org/2000/svg'><circle r='9'/></svg>", {"Content-Type": "image/svg+xml"}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
