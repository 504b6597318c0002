"""The ecosystem's own test suites, run against TiledWriter and against us: ``make conformance``.

``python -m tools.conformance`` downloads the released sdists of
bluesky-tiled-plugins and databroker (the pinned versions in
:mod:`tools.conformance.suites`) into a cache directory, extracts them, and
runs their tests with pytest twice:

- ``tiledwriter``: their fixtures as upstream has them (TiledWriter into a
  Tiled SQL catalog; for databroker the ``sqlite-tiled`` backend only);
- ``ours``: the same tests with their fixtures redirected (a conftest addition
  the harness injects, :mod:`tools.conformance.redirect_btp` and
  :mod:`tools.conformance.redirect_databroker`): every document their writer
  fixtures write goes to our ``RunWriterCallback`` into a beamtime, and their
  ``client`` is a Tiled client of our ``serve-tiled`` app over that beamtime.

The result is a per-test table (``docs/conformance.md``) and a JSON file
beside it. ``python -m tools.conformance.examples`` (also run by ``make
conformance``) writes upstream's example documents both ways and compares
``read()`` per variable (``docs/conformance-examples.md``). Needs the
``conformance`` extra and network access to PyPI (once;
the sdists stay in the cache).
"""
