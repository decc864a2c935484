"""Full-text search over stored mentions: one query syntax, two engines.

The syntax is that of PostgreSQL's ``websearch_to_tsquery`` (what people type into search boxes):

* words: every word must occur (``lieferung dhl``);
* ``"quoted phrases"``: the words in this order, next to each other;
* ``-word`` / ``-"a phrase"``: must not occur;
* ``OR`` (any letter case) between two parts: either part; ``a b OR c`` is ``(a AND b) OR c``.

:func:`parse` checks a query once, the same way for both databases, and refuses what neither engine
could run with a :class:`~resonanz_sdk.errors.ValidationError` on ``text`` (so the caller gets
INVALID_ARGUMENT, never INTERNAL): an unterminated quote, a part (between ``OR``s) with only
excluded words, more than 500 characters or 64 terms, or no searchable word at all. Words are cut
at anything that is not a letter, digit or underscore (``e-mail`` is the phrase ``"e mail"``,
``c++`` is ``c``), and case folded like the stored text. The parsed query is then rendered for the engine:

* **PostgreSQL**: a canonical string handed to ``websearch_to_tsquery`` with the text-search
  configuration of each mention's language (``german`` for ``de``, ``english`` for ``en``,
  ``simple`` otherwise), matched against the generated ``search_vector`` column (GIN index). So a
  German mention is stemmed with the German stemmer: ``Lieferung`` finds ``Lieferungen``.
* **SQLite**: an FTS5 ``MATCH`` expression over the external-content table ``listening_mentions_fts``
  (kept in sync by triggers), tokenizer ``porter unicode61 remove_diacritics 2``: English Porter
  stemming for every language, diacritics ignored (``Muller`` finds ``Müller``). Every word is
  emitted as a quoted FTS5 string, so FTS5 operators in the input (``NEAR``, ``*``, ``^``,
  ``column:``) are searched as text, never interpreted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from resonanz_sdk.errors import ValidationError
from sqlalchemy import DDL, FromClause, TextClause, event, text

#: Longest query text accepted.
MAX_TEXT = 500
#: Most words and phrases in one query (each costs a term in the engine's query).
MAX_TERMS = 64

#: PostgreSQL text-search configuration per language code; everything else uses ``simple``.
PG_CONFIGS: dict[str, str] = {"de": "german", "en": "english"}
PG_DEFAULT_CONFIG = "simple"

FTS_TABLE = "listening_mentions_fts"
SEARCH_VECTOR = "search_vector"
SEARCH_INDEX = "ix_listening_mentions_search"
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"

_FIELD = "text"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Term:
    """One word (one piece) or phrase (several pieces), case folded."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    """Terms that must all occur and terms that must not (one side of an ``OR``)."""

    include: tuple[Term, ...]
    exclude: tuple[Term, ...]


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: any of ``groups`` matches."""

    groups: tuple[Group, ...]

    def websearch(self) -> str:
        """The canonical ``websearch_to_tsquery`` text (only word characters, quotes, ``-`` and ``or``)."""

        def term(t: Term, negated: bool) -> str:
            # A lone "or" is quoted, or websearch_to_tsquery would read it as the operator.
            plain = len(t.words) == 1 and t.words[0] != "or"
            body = t.words[0] if plain else '"' + " ".join(t.words) + '"'
            return ("-" if negated else "") + body

        parts = [
            " ".join([term(t, False) for t in g.include] + [term(t, True) for t in g.exclude])
            for g in self.groups
        ]
        return " or ".join(parts)

    def fts5(self) -> str:
        """The FTS5 ``MATCH`` expression: every term a quoted string, operators added by us only."""

        def term(t: Term) -> str:
            return '"' + " ".join(t.words).replace('"', '""') + '"'

        def group(g: Group) -> str:
            expr = " AND ".join(term(t) for t in g.include)
            for t in g.exclude:
                expr = f"({expr}) NOT {term(t)}"
            return f"({expr})"

        return " OR ".join(group(g) for g in self.groups)


def _error(description: str) -> ValidationError:
    return ValidationError.single(_FIELD, description)


def _tokens(source: str) -> list[tuple[str, str, bool, int]]:
    """(kind, text, negated, 1-based position) for each phrase, word or OR of the query."""
    tokens: list[tuple[str, str, bool, int]] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        negated = False
        if ch == "-" and i + 1 < n and not source[i + 1].isspace():
            negated = True
            i += 1
        if i < n and source[i] == '"':
            end = source.find('"', i + 1)
            if end < 0:
                raise _error(f"unterminated quote at position {i + 1}")
            tokens.append(("phrase", source[i + 1 : end], negated, start + 1))
            i = end + 1
            continue
        j = i
        while j < n and not source[j].isspace() and source[j] != '"':
            j += 1
        word = source[i:j]
        if not negated and word.casefold() == "or":
            tokens.append(("or", word, False, start + 1))
        else:
            tokens.append(("word", word, negated, start + 1))
        i = j
    return tokens


def parse(source: str) -> SearchQuery | None:
    """Parse a search text; ``None`` for an empty one (everything matches). Raises ValidationError.

    Like ``websearch_to_tsquery`` it forgives what has an obvious reading: a part between ``OR``s
    with nothing searchable in it (``OR a``, ``' OR 1=1``) is dropped.
    """
    if len(source) > MAX_TEXT:
        raise _error(f"must be at most {MAX_TEXT} characters (is {len(source)})")
    if not source.strip():
        return None
    groups: list[Group] = []
    include: list[Term] = []
    exclude: list[Term] = []
    count = 0
    group_start = 1

    def close() -> None:
        if not include and not exclude:
            return
        if not include:
            raise _error(
                f"the part starting at position {group_start} only excludes words; add a word to search for"
            )
        groups.append(Group(tuple(include), tuple(exclude)))

    for kind, value, negated, position in _tokens(source):
        if kind == "or":
            close()
            include, exclude = [], []
            continue
        words = tuple(w.casefold() for w in _WORD.findall(value))
        if not words:
            continue  # punctuation only: nothing either engine could match on
        if not include and not exclude:
            group_start = position
        count += 1
        if count > MAX_TERMS:
            raise _error(f"at most {MAX_TERMS} words and phrases")
        (exclude if negated else include).append(Term(words))
    close()
    if not groups:
        raise _error("contains no word to search for (letters or digits)")
    return SearchQuery(tuple(groups))


# -- SQL -----------------------------------------------------------------------------------------


def pg_match(query: SearchQuery) -> TextClause:
    """The PostgreSQL condition: the mention's vector matches the query in the mention's language."""
    branches = [
        f"(listening_mentions.language = '{code}' AND listening_mentions.{SEARCH_VECTOR} "
        f"@@ websearch_to_tsquery('{config}', :fts_query))"
        for code, config in PG_CONFIGS.items()
    ]
    known = ", ".join(f"'{code}'" for code in PG_CONFIGS)
    branches.append(
        f"(listening_mentions.language NOT IN ({known}) AND listening_mentions.{SEARCH_VECTOR} "
        f"@@ websearch_to_tsquery('{PG_DEFAULT_CONFIG}', :fts_query))"
    )
    return text("(" + " OR ".join(branches) + ")").bindparams(fts_query=query.websearch())


def sqlite_match(query: SearchQuery) -> TextClause:
    """The SQLite condition: the mention's rowid is among the FTS5 matches."""
    return text(
        f"listening_mentions.seq IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_query)"
    ).bindparams(fts_query=query.fts5())


def match(dialect: str, query: SearchQuery) -> TextClause:
    """The engine's condition for ``query`` on ``listening_mentions``."""
    return pg_match(query) if dialect == "postgresql" else sqlite_match(query)


# -- DDL (create_all and migration 0001 use the same statements) ---------------------------------


def _pg_vector_expression() -> str:
    cases = " ".join(
        f"WHEN '{code}' THEN to_tsvector('{config}'::regconfig, search_text)"
        for code, config in PG_CONFIGS.items()
    )
    return f"CASE language {cases} ELSE to_tsvector('{PG_DEFAULT_CONFIG}'::regconfig, search_text) END"


POSTGRES_DDL: tuple[str, ...] = (
    f"ALTER TABLE listening_mentions ADD COLUMN {SEARCH_VECTOR} tsvector "
    f"GENERATED ALWAYS AS ({_pg_vector_expression()}) STORED",
    f"CREATE INDEX {SEARCH_INDEX} ON listening_mentions USING gin ({SEARCH_VECTOR})",
)

SQLITE_DDL: tuple[str, ...] = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(search_text, content='listening_mentions', "
    f"content_rowid='seq', tokenize='{FTS_TOKENIZER}')",
    f"CREATE TRIGGER {FTS_TABLE}_ai AFTER INSERT ON listening_mentions BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.seq, new.search_text); END",
    f"CREATE TRIGGER {FTS_TABLE}_ad AFTER DELETE ON listening_mentions BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) VALUES ('delete', old.seq, old.search_text); "
    "END",
    f"CREATE TRIGGER {FTS_TABLE}_au AFTER UPDATE OF search_text ON listening_mentions BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) VALUES ('delete', old.seq, old.search_text); "
    f"INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.seq, new.search_text); END",
)

SQLITE_DROP: tuple[str, ...] = (
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ai",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ad",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_au",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


def is_search_object(name: str | None) -> bool:
    """True for the search objects above (schema comparisons leave them to their own checks)."""
    return name is not None and (
        name in (SEARCH_VECTOR, SEARCH_INDEX) or name == FTS_TABLE or name.startswith(FTS_TABLE + "_")
    )


def _ddl(statement: str, dialect: str) -> DDL:
    return DDL(statement).execute_if(dialect=dialect)  # type: ignore[no-untyped-call]


def register_ddl(table: FromClause) -> None:
    """Create (and on SQLite drop) the search objects with ``listening_mentions`` in create_all."""
    for statement in POSTGRES_DDL:
        event.listen(table, "after_create", _ddl(statement, "postgresql"))
    for statement in SQLITE_DDL:
        event.listen(table, "after_create", _ddl(statement, "sqlite"))
    for statement in SQLITE_DROP:
        event.listen(table, "before_drop", _ddl(statement, "sqlite"))
