// The index's search, per backend (see search_table.h).
#include "index/search_table.h"

#include <fmt/core.h>

#include "util/text.h"

namespace atcr::index {

namespace {

bool is_word_byte(char c) {
  return static_cast<unsigned char>(c) >= 0x80 || std::isalnum(static_cast<unsigned char>(c));
}

std::vector<std::int64_t> ids_of(const db::Result& r) {
  std::vector<std::int64_t> ids;
  ids.reserve(r.rows.size());
  for (const db::Row& row : r.rows) ids.push_back(row.integer(0));
  return ids;
}

// FTS5: every word quoted (so no syntax is possible), all required, the
// last one as a prefix; the names tier is a column filter.
class Fts5Table final : public SearchTable {
 public:
  void put(db::Executor& x, std::int64_t id, const SearchFields& f) override {
    remove(x, id);
    x.exec("INSERT INTO index_search (rowid, handle, repository, description, readme) VALUES (?, ?, ?, ?, ?)",
           {id, f.handle, f.repository, f.description, f.readme});
  }
  void remove(db::Executor& x, std::int64_t id) override { x.exec("DELETE FROM index_search WHERE rowid = ?", {id}); }
  void remove_of(db::Executor& x, std::string_view did) override {
    x.exec("DELETE FROM index_search WHERE rowid IN (SELECT id FROM index_repositories WHERE did = ?)", {did});
  }

  std::optional<Match> match(std::string_view query, SearchScope scope) const override {
    std::vector<std::string> words = search_words(query);
    if (words.empty()) return std::nullopt;
    std::string all;
    for (std::size_t i = 0; i < words.size(); ++i)
      all += fmt::format("{}\"{}\"{}", i ? " " : "", words[i], i + 1 == words.size() ? "*" : "");
    std::string names = fmt::format("{{handle repository description}} : ({})", all);
    std::string text = scope == SearchScope::kAll     ? all
                       : scope == SearchScope::kNames ? names
                                                      : fmt::format("({}) NOT {}", all, names);
    return Match{"index_search WHERE index_search MATCH ?", {std::move(text)}};
  }

 protected:
  const char* id_column() const override { return "rowid"; }
  // The names weigh more than the README, the repository's name most.
  const char* rank() const override { return "bm25(index_search, 5.0, 10.0, 2.0, 1.0)"; }
};

// tsvector: the 'simple' configuration (lowercase, no stemming, no stop
// words: as FTS5's unicode61), fed the words split as the query's are;
// weights A (repository), B (handle), C (description), D (README).
class TsvectorTable final : public SearchTable {
 public:
  void put(db::Executor& x, std::int64_t id, const SearchFields& f) override {
    x.exec(
        "INSERT INTO index_search (id, names, doc) SELECT ?::bigint, n, n || setweight(to_tsvector('simple', ?), 'D') "
        "FROM (SELECT setweight(to_tsvector('simple', ?), 'B') || setweight(to_tsvector('simple', ?), 'A') || "
        "setweight(to_tsvector('simple', ?), 'C') AS n) s "
        "ON CONFLICT (id) DO UPDATE SET names = excluded.names, doc = excluded.doc",
        {id, words_text(f.readme), words_text(f.handle), words_text(f.repository), words_text(f.description)});
  }
  void remove(db::Executor& x, std::int64_t id) override { x.exec("DELETE FROM index_search WHERE id = ?", {id}); }
  void remove_of(db::Executor& x, std::string_view did) override {
    x.exec("DELETE FROM index_search WHERE id IN (SELECT id FROM index_repositories WHERE did = ?)", {did});
  }

  std::optional<Match> match(std::string_view query, SearchScope scope) const override {
    std::vector<std::string> words = postgres_words(query);
    if (words.empty()) return std::nullopt;
    std::string tsquery;
    for (std::size_t i = 0; i < words.size(); ++i)
      tsquery += fmt::format("{}'{}'{}", i ? " & " : "", words[i], i + 1 == words.size() ? ":*" : "");
    const char* where = scope == SearchScope::kAll     ? "doc @@ q"
                        : scope == SearchScope::kNames ? "names @@ q"
                                                       : "doc @@ q AND NOT names @@ q";
    return Match{fmt::format("index_search, to_tsquery('simple', ?) q WHERE {}", where), {std::move(tsquery)}};
  }

 protected:
  const char* id_column() const override { return "id"; }
  const char* rank() const override { return "-ts_rank(doc, q)"; }

 private:
  // Words PostgreSQL takes: valid UTF-8 (it refuses the rest) and short
  // enough to index (2046 bytes).
  static std::vector<std::string> postgres_words(std::string_view text) {
    std::vector<std::string> words = search_words(text);
    std::erase_if(words, [](const std::string& w) { return w.size() > 2046 || !util::is_valid_utf8(w); });
    return words;
  }
  // A field as to_tsvector's input: its words, at most 256 KiB of them (a
  // tsvector holds at most 1 MiB).
  static std::string words_text(std::string_view text) {
    std::string out;
    for (const std::string& w : postgres_words(text.substr(0, 256 * 1024))) {
      if (!out.empty()) out += ' ';
      out += w;
    }
    return out;
  }
};

}  // namespace

std::vector<std::string> search_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (is_word_byte(c)) {
      word += c;
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

std::unique_ptr<SearchTable> SearchTable::of(db::Backend backend) {
  if (backend == db::Backend::kPostgres) return std::make_unique<TsvectorTable>();
  return std::make_unique<Fts5Table>();
}

std::int64_t SearchTable::count(db::Executor& x, const Match& m) const {
  return x.exec(fmt::format("SELECT COUNT(*) FROM {}", m.from), m.params).front().integer(0);
}

std::vector<std::int64_t> SearchTable::ranked(db::Executor& x, const Match& m, std::int64_t head, std::int64_t limit,
                                              std::int64_t offset) const {
  std::vector<db::Param> params = m.params;
  params.insert(params.end(), {head, limit, offset});
  return ids_of(x.exec(fmt::format("SELECT id FROM (SELECT {0} AS id, {1} AS rank FROM {2} ORDER BY {0} DESC LIMIT ?) h "
                                   "ORDER BY rank, id DESC LIMIT ? OFFSET ?",
                                   id_column(), rank(), m.from),
                       params));
}

std::vector<std::int64_t> SearchTable::newest(db::Executor& x, const Match& m, std::int64_t limit,
                                              std::int64_t offset) const {
  std::vector<db::Param> params = m.params;
  params.insert(params.end(), {limit, offset});
  return ids_of(
      x.exec(fmt::format("SELECT {0} FROM {1} ORDER BY {0} DESC LIMIT ? OFFSET ?", id_column(), m.from), params));
}

}  // namespace atcr::index
