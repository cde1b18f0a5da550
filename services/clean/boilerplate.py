"""Boilerplate that survives main-text extraction, removed line by line.

Extractors keep what sits inside the article's container: unrendered template placeholders,
"Read also" links between paragraphs, share prompts, photo credits, cookie notices, and the
related-links list that follows the last paragraph. The patterns are short lines in the
languages news sites commonly use; a long line (a paragraph of prose) is never dropped by
them.
"""

from __future__ import annotations

import re

# Unrendered template placeholders (Angular, Handlebars, Jinja) leak into scraped text.
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")

# A short line that opens with one of these is a link to another article, not prose.
_READ_ALSO = re.compile(
    r"^\W{0,3}((related|more on this|mira|puedes ver)\s*:|read (also|more|next)|also read|see also"
    r"|lesen sie (auch|mehr|hier)|zum weiterlesen|auch interessant|mehr zum thema"
    r"|lea (también|tambien|más|mas)|lee (también|tambien|más|mas)"
    r"|te puede interesar|le puede interesar|vea (también|tambien)"
    r"|lire aussi|(à|a) lire aussi|voir aussi|leggi anche"
    r"|czytaj (też|także|również)|zobacz (też|także|również)|читайте также)(\b|(?<=:))",
    re.IGNORECASE,
)
_SHARE = re.compile(
    r"^\W{0,3}(share (this|on|via)|click to share|follow us|teilen auf|jetzt teilen"
    r"|compartir en|partager sur|s(í|i)guenos|sign up (for|to) (our|the) newsletter)\b",
    re.IGNORECASE,
)
# Photo credits and source lines under images: "Foto: …", "(Credit: …)", "© Reuters 2020".
_CREDIT = re.compile(
    r"^\W{0,3}((photo|foto|fotos|bild|bilder|image|picture|credit|credits|cr(é|e)dits? photos?"
    r"|beitragsbild|titelbild|quelle|source|fuente|źródło|zdjęcie)s?\s*:"
    r"|\(?(credit|photo|foto|bild)\s*:|©)",
    re.IGNORECASE,
)
_CREDIT_LINE = 120
# A cookie notice names cookies and the site or browser they are stored by.
_COOKIES = re.compile(r"\bcookies?\b", re.IGNORECASE)
_COOKIE_CONTEXT = re.compile(
    r"\b(website|site|browser|browsing|experience|webseite|internetseite|seite|sitio"
    r"|navegaci\w*|navigation|strona|serwis)\b",
    re.IGNORECASE,
)
# A short line that is only one of these heads a list of links or the comments: where it
# appears in the second half of the text, the article has ended.
_END_MARKER = re.compile(
    r"^\W{0,3}(read (also|more|next)|related( articles?| stories| posts| content| news)?"
    r"|more (from|on|stories|news)( [\w ]{0,30})?|see also|you (may|might) also like"
    r"|recommended( for you)?|most (read|popular)|tags?|topics|temas|themen"
    r"|schlagw(ö|oe)rter|mehr (dazu|zum thema)|das könnte sie auch interessieren"
    r"|auch interessant|schon gelesen|weitere (artikel|beiträge|nachrichten|themen)"
    r"|kommentare?|comments?|view comments|leave a (comment|reply)"
    r"|share( this( article| story| post)?)?|teilen|czytaj (też|także|również)"
    r"|zobacz (też|także|również)|lea (también|más)|lee (también|más)"
    r"|te puede interesar|noticias relacionadas|art(í|i)culos relacionados"
    r"|lire aussi|(à|a) lire aussi|sur le même sujet|leggi anche|articoli correlati"
    r"|читайте также)\W{0,3}$",
    re.IGNORECASE,
)
_SHORT_LINE = 220
_MARKER_LINE = 60


def strip_placeholders(text: str) -> str:
    lines = (_PLACEHOLDER.sub("", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def is_boilerplate_line(line: str) -> bool:
    """A "Read also" link, a share prompt, a photo credit or a cookie notice."""
    line = line.strip()
    if len(line) >= _SHORT_LINE:
        return False
    if len(line) < _CREDIT_LINE and _CREDIT.match(line):
        return True
    return bool(
        _READ_ALSO.match(line)
        or _SHARE.match(line)
        or (bool(_COOKIES.search(line)) and bool(_COOKIE_CONTEXT.search(line)))
        or (line.startswith(">>") and line.endswith("<<"))
    )


def remove_boilerplate(text: str) -> str:
    """Drop placeholder, link, share and cookie lines, and a trailing related-links list."""
    lines = [
        line for line in strip_placeholders(text).splitlines() if not is_boilerplate_line(line)
    ]
    for index, line in enumerate(lines):
        if index > 0 and index >= len(lines) / 2 and _is_end_marker(line):
            lines = lines[:index]
            break
    return "\n".join(line for line in lines if not _is_end_marker(line))


def _is_end_marker(line: str) -> bool:
    line = line.strip()
    return len(line) < _MARKER_LINE and bool(_END_MARKER.match(line))
