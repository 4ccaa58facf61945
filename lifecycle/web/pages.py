"""The console's pages (server-rendered; they call the JSON API for every decision)."""

from __future__ import annotations

from flask import Blueprint

pages = Blueprint("pages", __name__)
