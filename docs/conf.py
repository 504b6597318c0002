"""Sphinx configuration: `make docs` builds this site with warnings as errors."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the package as it is in this tree, not an installed copy
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

project = "resonance-callback"
author = "resonance-callback contributors"
copyright = "resonance-callback contributors"

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "public_names",  # docs/_ext: the constants of each __all__; every public name documented
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "conformance.json"]

# MyST: heading anchors, so that [text](page.md#a-heading) links resolve (and are checked).
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]

# API reference: members in each module's __all__, in source order, numpydoc sections.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# No network while building: intersphinx inventories are not fetched.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

html_theme = "alabaster"
html_title = "resonance-callback"
