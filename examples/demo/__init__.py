"""The cachemere demo site (docs/demo.md): ``python examples/demo/serve.py`` from the repository root."""
