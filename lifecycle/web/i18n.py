"""The console's languages: message catalogues (gettext .po, read with Babel) and dates in the company's time zone.

The English texts are the message ids; translations/<locale>/LC_MESSAGES/messages.po holds the
others.  The catalogues are compiled in memory at start: no build step, no .mo files in git.
`pybabel extract -F lifecycle/web/babel.cfg -o messages.pot lifecycle/web` lists the texts to translate.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = {"zh-CN": "zh_CN", "en": "en"}
CATALOGUES = Path(__file__).parent / "translations"


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue of `language` ("zh-CN" or "en"); English needs none."""
    locale = LANGUAGES.get(language, "en")
    path = CATALOGUES / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def local_time(value: str | datetime | None, zone: tzinfo, *, seconds: bool = False) -> str:
    """A stored UTC instant (ISO text) as the company's wall clock: `2026-12-07 08:30`."""
    if not value:
        return ""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
