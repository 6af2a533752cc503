"""Headshot style-hunting workbench: sweep prompts x seeds x identityScale over a panel of faces.

The library follows the data: contract -> client/simulator -> panel -> sweep -> store/catalogue.
The CLI (`workbench.cli`), `app.py` and the notebooks are thin faces over it.
"""

__version__ = "0.1.0"
