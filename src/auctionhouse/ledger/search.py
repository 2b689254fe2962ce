"""Full-text search over items (names and descriptions): the query language.

A user's query is cut into words (letters and digits, case and accents ignored); an auction
matches when every word begins a word of its item's name or description (``vase`` finds
"Vases", ``blue va`` finds "a blue vase"). The house answers it from memory
(``house/listing.py``'s ``WordIndex``, decision 0027); the ledger stores keep no search index
of their own any more (nothing read it: tests/house/test_house_search_words.py).
"""

from __future__ import annotations

import re
import unicodedata

from auctionhouse.errors import InvalidRequest

MAX_QUERY = 200
"""Characters of a search query at most."""
MAX_TERMS = 12
"""Words of a search query at most."""

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words of ``text``, case-folded, accents removed: ``"Café Noir"`` -> cafe, noir."""
    if text.isascii():  # nothing to decompose, and casefold is lower: 10x faster at start-up
        return _WORD.findall(text.lower())
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return _WORD.findall(plain.casefold())


def query_terms(query: str) -> list[str]:
    """The distinct words of a user's query, in order. Raises ``InvalidRequest`` for a query
    longer than ``MAX_QUERY`` characters or with more than ``MAX_TERMS`` words. A query without
    a word (``"!!"``) gives [] (it matches nothing)."""
    if not isinstance(query, str):
        raise InvalidRequest("the search query must be text")
    if len(query) > MAX_QUERY:
        raise InvalidRequest(f"a search query has at most {MAX_QUERY} characters")
    terms = list(dict.fromkeys(words(query)))
    if len(terms) > MAX_TERMS:
        raise InvalidRequest(f"a search query has at most {MAX_TERMS} words")
    return terms
