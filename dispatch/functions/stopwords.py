"""The stopwords ``words:stop`` leaves out: a shipped English list (articles, pronouns, auxiliaries,
prepositions, conjunctions, and the pieces the tokenizer makes of contractions and retweets: ``s``, ``t``,
``rt``, ``amp``), and a user's own file: Dispatch's ``--stopwords FILE`` (the shell's ``stopwords`` setting,
``NECTAR_STOPWORDS``), one word a line (``#`` starts a comment), read again when it changes. The file is named
by Dispatch's configuration, never by a message."""

from __future__ import annotations

import os

__all__ = ["ENGLISH", "stopwords"]

ENGLISH = frozenset("""
a about above after again against all am an and any are aren as at be because been before being below between
both but by can cannot could couldn d did didn do does doesn doing don down during each few for from further
had hadn has hasn have haven having he her here hers herself him himself his how i if in into is isn it its
itself just ll m me more most my myself no nor not now o of off on once only or other our ours ourselves out
over own re s same shan she should shouldn so some such t than that the their theirs them themselves then there
these they this those through to too under until up ve very was wasn we were weren what when where which while
who whom why will with won would wouldn y you your yours yourself yourselves rt amp via us also get got im
""".split())

_USER: tuple[str, float, frozenset[str]] = ("", 0.0, frozenset())


def stopwords() -> frozenset[str]:
    """The English list, and the words of the user's file (``NECTAR_STOPWORDS``) when one is set."""
    global _USER
    path = os.environ.get("NECTAR_STOPWORDS", "")
    if not path:
        return ENGLISH
    try:
        stamp = os.stat(path).st_mtime
    except OSError:
        return ENGLISH
    if (path, stamp) != _USER[:2]:
        with open(path, encoding="utf-8", errors="replace") as fh:
            words = {line.split("#")[0].strip().lower() for line in fh}
        _USER = (path, stamp, ENGLISH | frozenset(w for w in words if w))
    return _USER[2]

