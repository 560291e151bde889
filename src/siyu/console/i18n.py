"""Console languages: message catalogues (Babel .po, read at start-up) and number/date formats.

Message ids are English; `zh_CN` (the default) is a catalogue. The .po files are the source, read
into memory when the console starts, so no compiled .mo files live in the repository.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT = "zh_CN"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of a language (English is the message ids themselves)."""
    if lang == "en":
        return gettext.NullTranslations()
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def pick(cookie: str | None) -> str:
    """The language chosen with the switch (a cookie), else Chinese — whatever the browser says."""
    return cookie if cookie in LANGUAGES else DEFAULT
