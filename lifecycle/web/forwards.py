"""The console's forwards pages and API (skeleton: filled in by issue 18).

Imported by lifecycle.web.app for its routes on the `pages` and `api` blueprints, as lifecycle.web.passwords is.
"""

from __future__ import annotations
