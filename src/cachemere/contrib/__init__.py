"""Framework integrations: Flask (``contrib.flask``), Starlette and FastAPI (``contrib.starlette``), Django
(``contrib.django``).  Each module imports its framework itself, so ``import cachemere`` needs none of them.
"""
