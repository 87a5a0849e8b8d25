"""Helper modules shared by test modules (they hold no tests).

Test modules import these instead of importing each other, so the suite runs
under ``--import-mode=importlib`` as well as the default mode.
"""
