"""cachemere on FastAPI: a cached path operation with Depends, a whole-site cache option, a live counter.

uvicorn examples.fastapi_quickstart:app      # or: python examples/fastapi_quickstart.py
curl 'http://127.0.0.1:8000/items/3?q=tea'   # twice: the same "renders" (served from the cache)
curl 'http://127.0.0.1:8000/items/3?q=milk'  # another query, another cached page
curl 'http://127.0.0.1:8000/renders'         # how many times each endpoint really ran
"""

import os

from fastapi import Depends, FastAPI

import cachemere
from cachemere.contrib.starlette import cache_control, cache_page, never_cache

cachemere.configure(CACHES={"default": {"BACKEND": "cachemere.backends.locmem.LocMemCache"}})

app = FastAPI()
# The whole site instead: app.add_middleware(cachemere.contrib.starlette.CacheMiddleware)
renders = {"items": 0, "menu": 0}


def page_size(size: int = 10) -> int:
    return min(size, 100)


@app.get("/items/{item_id}")
@cache_page(60)  # each URL (path and query) is rendered once a minute at most
async def read_item(item_id: int, q: str | None = None, size: int = Depends(page_size)) -> dict[str, object]:
    renders["items"] += 1
    return {"item_id": item_id, "q": q, "size": size, "renders": renders["items"]}


@app.get("/menu")
@cache_control(max_age=300, public=True)  # browsers and CDNs keep it; cachemere does not
def menu() -> dict[str, object]:
    renders["menu"] += 1
    return {"dishes": ["soup", "bread"], "renders": renders["menu"]}


@app.get("/renders")
@never_cache  # always fresh, everywhere
def render_count() -> dict[str, int]:
    return renders


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
