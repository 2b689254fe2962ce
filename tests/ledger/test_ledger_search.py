"""The search part of the store contract: every backend (memory, SQLite FTS5, PostgreSQL text
search) finds the same auctions for the same words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_helpers import store_factories

from auctionhouse.errors import InvalidRequest, LedgerError
from auctionhouse.ledger import Store
from auctionhouse.ledger.search import ItemText, query_terms

BACKENDS = sorted(store_factories(Path()))

ITEMS = [
    ItemText("1", "Blue glass vase", "Murano, 1960s, a small chip on the rim"),
    ItemText("2", "Vases (pair)", "two white porcelain vases"),
    ItemText("3", "Café table", "oak top, iron legs"),
    ItemText("4", "Oak bookcase", "five shelves"),
    ItemText("5", "Lamp", ""),
]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = store_factories(tmp_path)[request.param]()
    yield s
    s.close()


def found(store: Store, query: str) -> list[str]:
    return sorted(store.search_items(query_terms(query)))


def row(auction_id: str, seq: int) -> tuple[str, int, bytes, bytes]:
    return (auction_id, seq, b'{"x":1}', bytes([seq]) * 32)


def test_words_match_names_and_descriptions_as_prefixes(store: Store) -> None:
    store.add_items(ITEMS)
    assert found(store, "vase") == ["1", "2"]  # "vases" too: a word prefix
    assert found(store, "VASE blue") == ["1"]  # every word, any case
    assert found(store, "porcelain") == ["2"]  # the description counts
    assert found(store, "oak") == ["3", "4"]
    assert found(store, "cafe") == ["3"]  # accents do not matter
    assert found(store, "café") == ["3"]
    assert found(store, "murano rim") == ["1"]
    assert found(store, "lamp shade") == []
    assert found(store, "ase") == []  # inside a word is not a match


def test_query_syntax_is_only_words(store: Store) -> None:
    """Operators and quotes of the backends' own query languages are plain text here."""
    store.add_items(ITEMS)
    for query in ('"vase', "vase*", "vase OR lamp", "vase -blue", "vase:*", "(vase)", "a'b"):
        assert set(found(store, query)) <= {"1", "2"}, query
    assert found(store, "vase OR lamp") == []  # "or" is a word like any other: nothing has it
    assert found(store, "!!! ???") == []  # no word: nothing
    assert found(store, "vase & !blue") == ["1"]


def test_items_are_indexed_with_their_append_and_never_twice(store: Store) -> None:
    store.append([row("a", 1)], items=[ItemText("a", "Red kettle", "")])
    assert found(store, "kettle") == ["a"]
    assert store.item_ids() == {"a"}
    store.add_items([ItemText("a", "Something else", ""), ItemText("b", "Green kettle", "")])
    assert found(store, "kettle") == ["a", "b"]
    assert found(store, "something") == []  # an item never changes: the first text stays
    assert store.item_ids() == {"a", "b"}


def test_a_refused_append_indexes_nothing(store: Store) -> None:
    store.append([row("a", 1)])
    with pytest.raises(LedgerError):
        store.append([row("b", 1), row("a", 1)], items=[ItemText("b", "Kettle", "")])
    assert found(store, "kettle") == []


def test_bad_queries_are_refused_clearly() -> None:
    with pytest.raises(InvalidRequest, match="at most 200"):
        query_terms("x" * 201)
    with pytest.raises(InvalidRequest, match="at most 12 words"):
        query_terms(" ".join(f"w{i}" for i in range(13)))
    assert query_terms("Vase vase VASE") == ["vase"]


def test_a_closed_store_refuses_to_search(store: Store) -> None:
    store.add_items(ITEMS)
    store.close()
    with pytest.raises(LedgerError):
        store.search_items(["vase"])


def test_a_page_is_counted_and_cut_by_the_index_newest_first(store: Store) -> None:
    store.add_items(ITEMS)
    store.add_items([ItemText(str(i), f"Vase number {i}", "") for i in range(6, 16)])
    terms = query_terms("vase")
    assert sorted(store.search_items(terms)) == sorted(["1", "2", *map(str, range(6, 16))])
    assert store.search_page(terms, 3, 0) == (["15", "14", "13"], 12)
    assert store.search_page(terms, 5, 10) == (["2", "1"], 12)
    assert store.search_page(terms, 5, 50) == ([], 12)
    assert store.search_page(query_terms("nothing"), 5, 0) == ([], 0)
    assert store.search_page([], 5, 0) == ([], 0)
