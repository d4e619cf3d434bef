"""Sphinx configuration: user guide in Markdown (MyST), API reference from numpydoc
docstrings, the examples as a sphinx-gallery gallery, the pydata-sphinx-theme.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (see docs/index.md).
The gallery shows the examples' code without running them; ``-D plot_gallery=1``
runs them and adds their output (minutes on a CPU).
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
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
master_doc = "index"
exclude_patterns = ["_build"]
templates_path = ["_templates"]

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
html_theme = "pydata_sphinx_theme"
html_static_path = []
html_theme_options = {"navigation_with_keys": False}

# The examples/ scripts as a gallery, each API page listing the examples that
# use it ("Examples using ...", from _templates/autosummary). The gallery is
# only rendered, not run, unless asked (-D plot_gallery=1): running it takes
# minutes, and reproduce_study_cbis_ddsm.py needs the CBIS-DDSM download.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"^((?!reproduce_study_cbis_ddsm).)*$",
    "plot_gallery": "False",
    "doc_module": ("mammoclf",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"mammoclf": None},
    "download_all_examples": False,
    "remove_config_comments": True,
}

nitpicky = False
suppress_warnings = ["myst.header"]
intersphinx_mapping = {}
