#include "atcr/storage/uploads.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "atcr/crypto/random.h"
#include "atcr/encoding/base64.h"
#include "atcr/storage/blob_key.h"
#include "util/sqlite.h"

namespace atcr::storage {

using Kind = UploadError::Kind;

std::string_view UploadError::name(Kind kind) {
  switch (kind) {
    case Kind::InvalidUploadId: return "InvalidUploadId";
    case Kind::InvalidDigest: return "InvalidDigest";
    case Kind::InvalidPartNumber: return "InvalidPartNumber";
    case Kind::MissingParts: return "MissingParts";
    case Kind::CompletionFailed: return "CompletionFailed";
    case Kind::AbortFailed: return "AbortFailed";
    case Kind::PartTooLarge: return "PartTooLarge";
  }
  return "CompletionFailed";
}

namespace {

constexpr std::size_t kIdBytes = 18;  // 144 bits, 24 base64url characters
constexpr std::size_t kMaxIdLength = 256;  // the lexicon's maxLength

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void unknown_id(std::string_view id) {
  // The same answer whether the id does not exist or belongs to another
  // DID, so ids cannot be probed.
  throw UploadError(Kind::InvalidUploadId, fmt::format("uploads: no upload '{}' for this account",
                                                       id.substr(0, std::min<std::size_t>(id.size(), 64))));
}

void check_part_number(int n) {
  if (n < 1 || n > kMaxPartNumber)
    throw UploadError(Kind::InvalidPartNumber, fmt::format("uploads: part number {} is not in 1..{}", n, kMaxPartNumber));
}

oci::Digest parse_digest(std::string_view text) {
  oci::Digest d = [&] {
    try {
      return oci::Digest::parse(text);
    } catch (const ParseError& e) {
      throw UploadError(Kind::InvalidDigest, fmt::format("uploads: {}", e.what()));
    }
  }();
  if (d.algorithm() != "sha256")
    throw UploadError(Kind::InvalidDigest, fmt::format("uploads: digest algorithm '{}' is not supported (only sha256)",
                                                       d.algorithm()));
  return d;
}

// Sorted by part number (S3 wants them ascending); duplicates refused.
std::vector<UploadedPart> checked_parts(const std::vector<UploadedPart>& parts) {
  if (parts.empty()) throw UploadError(Kind::MissingParts, "uploads: completing an upload with no parts");
  std::vector<UploadedPart> sorted = parts;
  for (const auto& p : sorted) check_part_number(p.part_number);
  std::sort(sorted.begin(), sorted.end(),
            [](const UploadedPart& a, const UploadedPart& b) { return a.part_number < b.part_number; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].part_number == sorted[i - 1].part_number)
      throw UploadError(Kind::InvalidPartNumber, fmt::format("uploads: part {} listed twice", sorted[i].part_number));
  return sorted;
}

struct Session {
  std::string backend_id;
  std::string state;
};

// expire(): an open session past its age, to end.
struct StaleSession {
  std::string id;
  Session session;
};

// expire()'s count of what it removed, and of its failures (what failed is
// kept for the next round; the first failure is reported).
struct ExpireTally {
  std::size_t removed = 0;
  std::size_t failures = 0;
  std::string first_failure;

  // Runs `remove`, which returns how many things it removed.
  template <typename Remove>
  void attempt(Remove&& remove) {
    try {
      removed += static_cast<std::size_t>(remove());
    } catch (const Error& e) {
      if (failures++ == 0) first_failure = e.what();
    }
  }
};

// Everything under the uploads prefix, with its age.
std::vector<ListedKey> list_upload_data(BlobStore& store) {
  std::vector<ListedKey> keys;
  std::string token;
  do {
    ListPage page = store.list(kUploadsPrefix, token);
    for (auto& k : page.keys) keys.push_back(std::move(k));
    token = page.continuation;
  } while (!token.empty());
  return keys;
}

// Whose data a key under the uploads prefix is: the upload id (or, for a
// driver's own scratch, a backend upload id).
std::string_view upload_owner(std::string_view key) {
  std::string_view rest = key.substr(kUploadsPrefix.size());
  return rest.substr(0, rest.find('/'));
}

}  // namespace

struct Uploads::Impl {
  BlobStore& store;
  UploadOptions options;
  mutable std::mutex mu;  // guards db: Statements are not shared across threads
  mutable sqlite::Database db;

  Impl(BlobStore& s, const std::filesystem::path& path, UploadOptions o) : store(s), options(o), db(path.string()) {
    db.exec(
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=NORMAL;"
        "CREATE TABLE IF NOT EXISTS upload_sessions("
        "  id TEXT PRIMARY KEY,"
        "  owner TEXT NOT NULL,"
        "  digest_hint TEXT NOT NULL,"
        "  backend_id TEXT,"  // NULL until the backend upload exists
        "  state TEXT NOT NULL DEFAULT 'open',"  // 'open' | 'completing'
        "  created_ms INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS upload_sessions_created ON upload_sessions(created_ms);");
    // A complete() cut short by a crash left its session 'completing';
    // one process owns the database, so none is in progress now.
    db.exec("UPDATE upload_sessions SET state = 'open' WHERE state = 'completing'");
  }

  int changes() const { return sqlite3_changes(db.handle()); }

  std::optional<Session> find(std::string_view id, std::string_view owner) const {
    if (id.empty() || id.size() > kMaxIdLength) return std::nullopt;
    std::lock_guard lock(mu);
    sqlite::Statement q(db, "SELECT backend_id, state FROM upload_sessions WHERE id = ? AND owner = ?");
    q.bind(1, id).bind(2, owner);
    if (!q.step() || q.column_is_null(0)) return std::nullopt;
    return Session{q.column_text(0), q.column_text(1)};
  }

  // An open session or InvalidUploadId.
  Session open_session(std::string_view id, std::string_view owner) const {
    auto s = find(id, owner);
    if (!s) unknown_id(id);
    if (s->state != "open")
      throw UploadError(Kind::InvalidUploadId, fmt::format("uploads: upload '{}' is being completed", id));
    return *s;
  }

  // open -> completing, atomically: only one complete() runs per upload.
  Session claim(std::string_view id, std::string_view owner) {
    Session s = open_session(id, owner);
    std::lock_guard lock(mu);
    sqlite::Statement u(db,
                        "UPDATE upload_sessions SET state = 'completing' "
                        "WHERE id = ? AND owner = ? AND state = 'open'");
    u.bind(1, id).bind(2, owner);
    u.run();
    if (changes() == 0)
      throw UploadError(Kind::InvalidUploadId, fmt::format("uploads: upload '{}' is being completed", id));
    return s;
  }

  void set_open(std::string_view id) {
    std::lock_guard lock(mu);
    sqlite::Statement u(db, "UPDATE upload_sessions SET state = 'open' WHERE id = ?");
    u.bind(1, id);
    u.run();
  }

  void forget(std::string_view id) {
    std::lock_guard lock(mu);
    sqlite::Statement d(db, "DELETE FROM upload_sessions WHERE id = ?");
    d.bind(1, id);
    d.run();
  }

  // Best-effort removal of an upload's data after it failed for good; the
  // failure that brought us here is what the caller reports, and expire()
  // sweeps whatever this could not remove.
  void discard(std::string_view id, const Session& s, bool backend_upload_open) noexcept {
    std::string key = upload_key(id);
    try {
      if (backend_upload_open) store.abort(key, s.backend_id);
    } catch (const Error&) {
    }
    try {
      store.remove(key);
    } catch (const Error&) {
    }
  }

  // expire()'s snapshot of the sessions: the open ones created at or before
  // `cutoff_ms`, returned; the ids and backend ids of all others, in `live`.
  std::vector<StaleSession> stale_sessions(std::int64_t cutoff_ms, std::set<std::string, std::less<>>& live) const {
    std::vector<StaleSession> stale;
    std::lock_guard lock(mu);
    sqlite::Statement q(db, "SELECT id, backend_id, state, created_ms FROM upload_sessions");
    while (q.step()) {
      std::string id = q.column_text(0);
      std::string backend = q.column_is_null(1) ? "" : q.column_text(1);
      if (q.column_int(3) <= cutoff_ms && q.column_text(2) == "open") {
        stale.push_back({id, Session{backend, "open"}});
      } else {
        live.insert(id);
        if (!backend.empty()) live.insert(backend);
      }
    }
    return stale;
  }

  // complete()'s first step: the parts assembled at the upload's key. A
  // missing part leaves the session open for a retry.
  FinishResult assemble(std::string_view id, const Session& s, const std::vector<UploadedPart>& sorted) {
    try {
      return store.finish(upload_key(id), s.backend_id, sorted);
    } catch (const InvalidPart& e) {
      set_open(id);  // the client may send the part and retry
      throw UploadError(Kind::MissingParts, fmt::format("uploads: {}", e.what()));
    } catch (const NotFound& e) {
      discard(id, s, false);
      forget(id);
      throw UploadError(Kind::CompletionFailed, fmt::format("uploads: the backend upload is gone: {}", e.what()));
    } catch (const Error& e) {
      // State unknown: keep the session so abort() or expire() can clean up.
      set_open(id);
      throw UploadError(Kind::CompletionFailed, fmt::format("uploads: assembling the blob failed: {}", e.what()));
    }
  }

  // Streams the assembled upload back and hashes it (drivers that did not
  // hash while assembling).
  std::pair<Sha256Digest, std::uint64_t> hash_object(const std::string& key) const {
    Sha256 hash;
    std::uint64_t total = 0;
    store.read(key, std::nullopt, [&](BytesView chunk) {
      hash.update(chunk);
      total += chunk.size();
      return true;
    });
    return {hash.finish(), total};
  }
};

Uploads::Uploads(BlobStore& store, const std::filesystem::path& db_path, UploadOptions options)
    : impl_(std::make_unique<Impl>(store, db_path, options)) {}

Uploads::~Uploads() = default;

std::string Uploads::initiate(std::string_view owner_did, std::string_view digest_hint) {
  if (owner_did.empty()) throw Error("uploads: initiate without an owner DID");
  if (!digest_hint.empty()) parse_digest(digest_hint);
  std::string id = base64::encode_url(random_bytes(kIdBytes));
  {
    // The row comes first: any data under _uploads/ then always has a
    // session that expire() can see (it lists data before sessions).
    std::lock_guard lock(impl_->mu);
    sqlite::Statement ins(impl_->db,
                          "INSERT INTO upload_sessions(id, owner, digest_hint, created_ms) VALUES (?, ?, ?, ?)");
    // A std::string: an empty string_view may have a null data() and would bind NULL.
    ins.bind(1, id).bind(2, owner_did).bind(3, std::string(digest_hint)).bind(4, now_ms());
    ins.run();
  }
  std::string backend_id;
  try {
    backend_id = impl_->store.begin(upload_key(id));
  } catch (...) {
    impl_->forget(id);
    throw;
  }
  std::lock_guard lock(impl_->mu);
  sqlite::Statement upd(impl_->db, "UPDATE upload_sessions SET backend_id = ? WHERE id = ?");
  upd.bind(1, backend_id).bind(2, id);
  upd.run();
  return id;
}

std::optional<PartTarget> Uploads::part_target(std::string_view upload_id, std::string_view owner_did,
                                               int part_number) {
  Session s = impl_->open_session(upload_id, owner_did);
  check_part_number(part_number);
  return impl_->store.presign_part(upload_key(upload_id), s.backend_id, part_number, impl_->options.presign_expiry);
}

std::string Uploads::write_part(std::string_view upload_id, std::string_view owner_did, int part_number,
                                const Reader& read, std::optional<std::uint64_t> size) {
  Session s = impl_->open_session(upload_id, owner_did);
  check_part_number(part_number);
  const std::uint64_t limit = impl_->options.max_part_bytes;
  if (size && *size > limit)
    throw UploadError(Kind::PartTooLarge, fmt::format("uploads: part of {} bytes is over the {}-byte limit", *size, limit));
  // Without a declared size, count as the bytes arrive.
  std::uint64_t seen = 0;
  Reader bounded = [&](std::span<std::uint8_t> buffer) {
    std::size_t n = read(buffer);
    seen += n;
    if (seen > limit)
      throw UploadError(Kind::PartTooLarge, fmt::format("uploads: part is over the {}-byte limit", limit));
    return n;
  };
  try {
    return impl_->store.write_part(upload_key(upload_id), s.backend_id, part_number, size, size ? read : bounded);
  } catch (const NotFound& e) {
    // The backend upload vanished (aborted or expired meanwhile).
    throw UploadError(Kind::InvalidUploadId, fmt::format("uploads: upload '{}' is gone: {}", upload_id, e.what()));
  }
}

CompletedBlob Uploads::complete(std::string_view upload_id, std::string_view owner_did, std::string_view digest_text,
                                const std::vector<UploadedPart>& parts) {
  Session s = impl_->open_session(upload_id, owner_did);  // InvalidUploadId before input errors
  oci::Digest digest = parse_digest(digest_text);
  std::vector<UploadedPart> sorted = checked_parts(parts);
  s = impl_->claim(upload_id, owner_did);
  const std::string temp = upload_key(upload_id);

  // 1. Assemble at the temp key.
  FinishResult assembled = impl_->assemble(upload_id, s, sorted);

  // 2. Verify. From here on the backend upload is consumed, so any
  // failure ends the session.
  auto fail = [&](Kind kind, const std::string& message) -> UploadError {
    impl_->discard(upload_id, s, false);
    impl_->forget(upload_id);
    return UploadError(kind, message);
  };
  Sha256Digest actual{};
  std::uint64_t size = assembled.size;
  try {
    if (assembled.sha256) {
      actual = *assembled.sha256;
    } else {
      std::tie(actual, size) = impl_->hash_object(temp);
    }
  } catch (const Error& e) {
    throw fail(Kind::CompletionFailed, fmt::format("uploads: reading the assembled blob back failed: {}", e.what()));
  }
  oci::Digest got = oci::Digest::from_sha256(actual);
  if (got != digest)
    throw fail(Kind::InvalidDigest,
               fmt::format("uploads: the uploaded content ({} bytes) hashes to {}, not {}", size, got.str(), digest.str()));

  // 3. Publish. Content-addressed: if the blob is already there it is the
  // same bytes, so ours is simply dropped.
  const std::string final_key = blob_key(digest);
  try {
    if (impl_->store.stat(final_key)) {
      impl_->store.remove(temp);
    } else {
      impl_->store.move(temp, final_key);
    }
  } catch (const Error& e) {
    throw fail(Kind::CompletionFailed, fmt::format("uploads: publishing {} failed: {}", digest.str(), e.what()));
  }
  impl_->forget(upload_id);
  return CompletedBlob{digest, size};
}

void Uploads::abort(std::string_view upload_id, std::string_view owner_did) {
  Session s = impl_->open_session(upload_id, owner_did);
  try {
    impl_->store.abort(upload_key(upload_id), s.backend_id);
    impl_->store.remove(upload_key(upload_id));
  } catch (const Error& e) {
    throw UploadError(Kind::AbortFailed, fmt::format("uploads: aborting '{}' failed: {}", upload_id, e.what()));
  }
  impl_->forget(upload_id);
}

std::size_t Uploads::expire(std::chrono::seconds max_age) {
  BlobStore& store = impl_->store;
  // Data first, sessions second: data whose session is not in the second
  // snapshot cannot belong to an upload in progress (its row is written
  // before any of its data).
  std::vector<ListedKey> keys = list_upload_data(store);
  std::set<std::string, std::less<>> live;
  std::vector<StaleSession> stale =
      impl_->stale_sessions(now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(max_age).count(), live);

  ExpireTally tally;
  for (const auto& st : stale) {
    // Its data is handled here (or kept, on failure), not as a stray below.
    live.insert(st.id);
    live.insert(st.session.backend_id);
    tally.attempt([&] {
      if (!st.session.backend_id.empty()) store.abort(upload_key(st.id), st.session.backend_id);
      store.remove(upload_key(st.id));
      impl_->forget(st.id);
      return 1;
    });
  }
  // A stray counts only past max_age too: a bucket may be shared, and
  // another hold's upload in progress is a stray to this one.
  const auto stray_cutoff = std::chrono::system_clock::now() - max_age;
  for (const ListedKey& k : keys) {
    if (live.count(upload_owner(k.key)) != 0 || !k.modified || *k.modified > stray_cutoff) continue;
    tally.attempt([&] {
      store.remove(k.key);
      return 1;
    });
  }
  // Multipart uploads that lost their session row (a crash between the
  // backend's begin and the row's update, or a database restored from a
  // backup): invisible to list(), they keep their parts until aborted.
  for (const PendingUpload& u : store.pending_uploads(kUploadsPrefix)) {
    if (live.count(upload_owner(u.key)) != 0 || live.count(u.upload_id) != 0 || !u.initiated ||
        *u.initiated > stray_cutoff)
      continue;
    tally.attempt([&] {
      store.abort(u.key, u.upload_id);
      return 1;
    });
  }
  tally.attempt([&] { return store.sweep_scratch(max_age); });
  if (tally.failures > 0)
    throw BackendError(fmt::format("uploads: expire removed {} but failed {} times; first: {}", tally.removed,
                                   tally.failures, tally.first_failure));
  return tally.removed;
}

std::vector<std::string> Uploads::announced_digests() const {
  std::lock_guard lock(impl_->mu);
  sqlite::Statement q(impl_->db, "SELECT DISTINCT digest_hint FROM upload_sessions WHERE digest_hint != ''");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.column_text(0));
  return out;
}

std::size_t Uploads::count() const {
  std::lock_guard lock(impl_->mu);
  sqlite::Statement q(impl_->db, "SELECT count(*) FROM upload_sessions");
  q.step();
  return static_cast<std::size_t>(q.column_int(0));
}

}  // namespace atcr::storage
