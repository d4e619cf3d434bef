"""Sphinx configuration: user guide in Markdown (MyST), API reference from numpydoc docstrings.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (see docs/index.md).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

from mammoclf import __version__

project = "mammoclf"
author = "mammoclf developers"
copyright = "2026, mammoclf developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
master_doc = "index"
exclude_patterns = ["_build", "developers.md"]

autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    # scikit-learn's generated metadata-routing setters document themselves
    # with references into scikit-learn's own glossary.
    "exclude-members": "set_fit_request,set_score_request,set_predict_request,"
    "set_predict_proba_request,set_transform_request,set_partial_fit_request",
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Keras and matplotlib are imported lazily by mammoclf; documenting must not need them.
autodoc_mock_imports = []

myst_heading_anchors = 3
html_theme = "alabaster"
html_static_path = []

nitpicky = False
suppress_warnings = ["myst.header"]
intersphinx_mapping = {}
