#include "atcr/pds/sequencer.h"

#include <atomic>

#include "atcr/error.h"
#include "atcr/pds/event_stream.h"
#include "util/sqlite.h"

namespace atcr::pds {

namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS events (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  type       TEXT    NOT NULL,
  time       TEXT    NOT NULL,
  created_us INTEGER NOT NULL,
  frame      BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type, seq);
CREATE INDEX IF NOT EXISTS events_by_age ON events (created_us);
)sql";

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct Sequencer::Impl {
  explicit Impl(const std::string& path, SequencerOptions o) : db(path), options(o) {
    db.exec(kSchema);
    last_seq = read_last_seq();
  }

  // sqlite_sequence remembers the highest seq AUTOINCREMENT ever used, even
  // when that row has since been deleted.
  std::int64_t read_last_seq() {
    sqlite::Statement st(db, "SELECT seq FROM sqlite_sequence WHERE name = 'events'");
    return st.step() ? st.column_int(0) : 0;
  }

  SequencedEvent row(const sqlite::Statement& st) const {
    return SequencedEvent{st.column_int(0), st.column_text(1), st.column_text(2), st.column_blob(3)};
  }

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  sqlite::Database db;
  SequencerOptions options;
  std::atomic<std::int64_t> last_seq{0};
  std::atomic<bool> is_closed{false};
};

Sequencer::Sequencer(const std::string& path, SequencerOptions options)
    : impl_(std::make_unique<Impl>(path, options)) {}

Sequencer::~Sequencer() { close(); }

std::int64_t Sequencer::append(std::string_view type, Value body) {
  if (!body.is_map()) throw ParseError("sequencer: event body of " + std::string(type) + " is not a map");
  const Value* time = body.find("time");
  if (!time || !time->is_string())
    throw ParseError("sequencer: event body of " + std::string(type) + " has no string time");
  std::string time_text = time->as_string();

  std::int64_t seq = 0;
  {
    std::lock_guard lock(impl_->mu);
    sqlite::Transaction tx(impl_->db);
    // Insert first so AUTOINCREMENT picks the seq, then store the frame that
    // names it; both land in the same transaction or neither does.
    sqlite::Statement insert(impl_->db,
                             "INSERT INTO events (type, time, created_us, frame) VALUES (?, ?, ?, x'')");
    insert.bind(1, type).bind(2, std::string_view(time_text)).bind(3, now_us()).run();
    seq = sqlite3_last_insert_rowid(impl_->db.handle());
    body.as_map()["seq"] = Value(seq);
    Bytes frame = encode_message_frame(type, body);
    sqlite::Statement update(impl_->db, "UPDATE events SET frame = ? WHERE seq = ?");
    update.bind_blob(1, frame).bind(2, seq).run();
    tx.commit();
    impl_->last_seq = seq;
  }
  impl_->cv.notify_all();
  return seq;
}

std::vector<SequencedEvent> Sequencer::read_after(std::int64_t cursor, std::size_t limit) const {
  std::vector<SequencedEvent> out;
  if (limit == 0) return out;
  std::lock_guard lock(impl_->mu);
  sqlite::Statement st(impl_->db,
                       "SELECT seq, type, time, frame FROM events WHERE seq > ? ORDER BY seq LIMIT ?");
  st.bind(1, cursor).bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
  while (st.step()) out.push_back(impl_->row(st));
  return out;
}

std::optional<SequencedEvent> Sequencer::last_of(const std::vector<std::string>& types) const {
  std::optional<SequencedEvent> best;
  std::lock_guard lock(impl_->mu);
  for (const std::string& type : types) {
    sqlite::Statement st(impl_->db,
                         "SELECT seq, type, time, frame FROM events WHERE type = ? ORDER BY seq DESC LIMIT 1");
    st.bind(1, std::string_view(type));
    if (st.step()) {
      SequencedEvent e = impl_->row(st);
      if (!best || e.seq > best->seq) best = std::move(e);
    }
  }
  return best;
}

std::int64_t Sequencer::current_seq() const { return impl_->last_seq; }

std::optional<std::int64_t> Sequencer::oldest_seq() const {
  std::lock_guard lock(impl_->mu);
  sqlite::Statement st(impl_->db, "SELECT MIN(seq) FROM events");
  if (!st.step() || st.column_is_null(0)) return std::nullopt;
  return st.column_int(0);
}

std::size_t Sequencer::size() const {
  std::lock_guard lock(impl_->mu);
  sqlite::Statement st(impl_->db, "SELECT COUNT(*) FROM events");
  st.step();
  return static_cast<std::size_t>(st.column_int(0));
}

bool Sequencer::wait_for_new(std::int64_t after_seq, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait_for(lock, timeout, [&] { return impl_->last_seq > after_seq || impl_->is_closed; });
  return impl_->last_seq > after_seq;
}

void Sequencer::close() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->is_closed = true;
  }
  impl_->cv.notify_all();
}

bool Sequencer::closed() const { return impl_->is_closed; }

std::size_t Sequencer::trim() { return trim(impl_->options.keep_events, impl_->options.keep_for); }

std::size_t Sequencer::trim(std::size_t keep_events, std::chrono::seconds keep_for) {
  std::lock_guard lock(impl_->mu);
  std::int64_t newest = impl_->last_seq;
  std::size_t removed = 0;
  sqlite::Transaction tx(impl_->db);
  if (keep_events > 0) {
    sqlite::Statement st(impl_->db, "DELETE FROM events WHERE seq <= ? - ?");
    st.bind(1, newest).bind(2, static_cast<std::int64_t>(keep_events)).run();
    removed += static_cast<std::size_t>(sqlite3_changes(impl_->db.handle()));
  }
  if (keep_for.count() > 0) {
    std::int64_t cutoff = now_us() - std::chrono::duration_cast<std::chrono::microseconds>(keep_for).count();
    sqlite::Statement st(impl_->db, "DELETE FROM events WHERE created_us < ? AND seq < ?");
    st.bind(1, cutoff).bind(2, newest).run();
    removed += static_cast<std::size_t>(sqlite3_changes(impl_->db.handle()));
  }
  tx.commit();
  return removed;
}

}  // namespace atcr::pds
