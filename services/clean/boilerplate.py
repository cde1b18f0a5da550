"""Boilerplate that survives main-text extraction, removed line by line.

Extractors keep what sits inside the article's container: unrendered template placeholders,
"Read also" links between paragraphs, share, newsletter and subscription prompts, copyright
notices, ad labels and affiliate disclosures, photo credits and captions ending in one,
cookie notices, and the related-links list that follows the last paragraph. The patterns are
short lines in the languages news sites commonly use; a long line (a paragraph of prose) is
never dropped by them.
"""

from __future__ import annotations

import re

# Unrendered template placeholders (Angular, Handlebars, Jinja) leak into scraped text.
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")

# A short line that opens with one of these is a link to another article, not prose.
_READ_ALSO = re.compile(
    r"^\W{0,3}((related|more on this|mira|puedes ver|lea|auch lesen|lesen sie)\s*:"
    r"|read (also|more|next)|also read|see also"
    r"|lesen sie (auch|mehr|hier)|zum weiterlesen|auch interessant|mehr zum thema"
    r"|lea (también|tambien|más|mas)|lee (también|tambien|más|mas)"
    r"|te puede interesar|le puede interesar|vea (también|tambien)"
    r"|lire aussi|(à|a) lire aussi|voir aussi|leggi anche"
    r"|czytaj (też|także|również)|zobacz (też|także|również)|читайте также)(\b|(?<=:))",
    re.IGNORECASE,
)
_SHARE = re.compile(
    r"^\W{0,3}(share (this|on|via)|click to share|follow us|teilen auf|jetzt teilen"
    r"|compartir en|partager sur)\b",
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
# A line asking the reader to subscribe, sign up, follow the site or download its app, and
# the site's copyright notice: about the publication, not the story.
_PROMPT = re.compile(
    r"\b(sign(ing)? up (here|now|for (our|free))|sign(ing)? up\b.{0,40}\bnewsletter"
    r"|sign up to (get|receive)|subscribe (now|today|to (our|continue))|please subscribe"
    r"|already a (subscriber|member)|our newsletter|(to|for) the newsletter"
    r"|download (the|our) .{0,40}\bapps?|follow (us|the \w+( \w+)?) on"
    r" (twitter|facebook|instagram|x|linkedin|tiktok)"
    r"|(zum|unseren) newsletter|newsletter (anmelden|abonnieren|bestellen)|jetzt abonnieren"
    r"|folgen sie uns|folge uns|hazte miembro|suscr[ií]bete|s[ií]guenos"
    r"|(nuestro|our|unser(em)?) (canal|channel|kanal)"
    r"|(canal|channel|kanal) (de |on |auf )?(telegram|whatsapp|youtube)"
    r"|abonnez-vous|inscrivez-vous|zapraszamy (też )?do subskrypcji|zapisz się"
    r"|copyrighted property of|written permission (must|is required)"
    r"|without (prior )?written permission|submit (a |your )?letters? to the editor"
    r"|we want to hear what you think|puede escribirnos"
    r"|contains? (affiliate links|references to products)|enthält (werbung|affiliate)"
    r"|handelt es sich um affiliate)\b"
    r"|^\W{0,3}(werbung|anzeige)\s*[.:,|-]"
    r"|^\W{0,3}(copyright|©)\W.*\b(all rights reserved|alle rechte vorbehalten"
    r"|todos los derechos reservados|tous droits réservés)",
    re.IGNORECASE,
)
# A line that is only an ad slot's label or a loading placeholder.
_SLOT = re.compile(
    r"^\W{0,3}(advertisement|advertising|sponsored|anzeige|werbung|publicidad|publicité|reklama"
    r"|loading|wird geladen|cargando|chargement|(story )?continues? (reading )?below"
    r"( advertisement)?|scroll to continue( with content)?)\W{0,3}$",
    re.IGNORECASE,
)
# An image caption ends with its credit: "Marco Odermatt, Ski-Star. © AFP / MARCO BERTORELLO",
# "Die Altstadt im Winter. Foto: dpa".
_CAPTION_CREDIT = re.compile(
    r"(©|\((c|credit|photo|foto)\b|\b(photo|foto|bild|image|credit|fotos?)\s*:)"
    r"\s*[\w .'/&|,-]{2,60}\W{0,2}$",
    re.IGNORECASE,
)
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
    r"|notas relacionadas|weitere artikel( zum thema)?|mehr themen|auch lesen|keine kommentare"
    r"|kommentierte artikel|das (thema|könnte dich auch) .{0,30}interessieren|lust auf mehr"
    r"|beiträge aus dem forum|dowiedz się więcej|more stories|related coverage"
    r"|читайте также)\W{0,3}$",
    re.IGNORECASE,
)
_SHORT_LINE = 220
_MARKER_LINE = 60


def strip_placeholders(text: str) -> str:
    lines = (_PLACEHOLDER.sub("", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def is_boilerplate_line(line: str) -> bool:
    """A "Read also" link, a reader prompt, an ad label, a photo credit or a cookie notice."""
    line = line.strip()
    if len(line) >= _SHORT_LINE:
        return False
    if len(line) < _CREDIT_LINE and _CREDIT.match(line):
        return True
    return bool(
        _READ_ALSO.match(line)
        or _SHARE.match(line)
        or _PROMPT.search(line)
        or _SLOT.match(line)
        or _CAPTION_CREDIT.search(line)
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
