// Internal: the index's full-text search of repositories, the one place
// where its SQL differs between the backends: SQLite's FTS5 table (bm25
// ranking) and PostgreSQL's tsvector columns with GIN indexes (ts_rank).
//
// Both split text into words the same way: runs of ASCII letters and
// digits, and of non-ASCII bytes (so "alice.test" is "alice test", on
// both sides). A query matches when all its words do, the last one as a
// prefix; a query without words matches nothing. No query is an error:
// words are quoted (FTS5) or made of letters only (tsquery), and invalid
// UTF-8 (which PostgreSQL refuses) is dropped.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/db/database.h"

namespace atcr::index {

// What a repository is found by.
struct SearchFields {
  std::string handle;
  std::string repository;
  std::string description;
  std::string readme;
};

// Which of a repository's fields a query must match in.
enum class SearchScope {
  kAll,         // any field
  kNames,       // handle, repository or description
  kReadmeOnly,  // all fields but not the names alone: README-only matches
};

class SearchTable {
 public:
  // The table of `backend`'s schema (schema.cc's index_search).
  static std::unique_ptr<SearchTable> of(db::Backend backend);
  virtual ~SearchTable() = default;

  // The entry of repository `id` (index_repositories.id) is `fields`
  // (replaced).
  virtual void put(db::Executor& x, std::int64_t id, const SearchFields& fields) = 0;
  virtual void remove(db::Executor& x, std::int64_t id) = 0;
  // The entries of every repository of `did`.
  virtual void remove_of(db::Executor& x, std::string_view did) = 0;

  // A query in this table's terms; nullopt when it has no words.
  struct Match {
    std::string from;  // FROM ... WHERE ...: the matching entries
    std::vector<db::Param> params;
  };
  virtual std::optional<Match> match(std::string_view query, SearchScope scope) const = 0;

  std::int64_t count(db::Executor& x, const Match& m) const;
  // Ids at [offset, offset + limit) of the `head` most recently added
  // matches ranked best first (ties: newest first).
  std::vector<std::int64_t> ranked(db::Executor& x, const Match& m, std::int64_t head, std::int64_t limit,
                                   std::int64_t offset) const;
  // Ids at [offset, offset + limit) of the matches, most recently added first.
  std::vector<std::int64_t> newest(db::Executor& x, const Match& m, std::int64_t limit, std::int64_t offset) const;

 protected:
  // The entry's id column and its rank expression (lower is better) in
  // `Match::from`'s terms.
  virtual const char* id_column() const = 0;
  virtual const char* rank() const = 0;
};

// The words of `text` as search splits it (see above).
std::vector<std::string> search_words(std::string_view text);

}  // namespace atcr::index
