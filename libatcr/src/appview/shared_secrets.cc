#include "appview/shared_secrets.h"

#include "atcr/encoding/hex.h"

namespace atcr::appview {

namespace {

constexpr db::Migration kMigrations[] = {
    {1, "CREATE TABLE IF NOT EXISTS appview_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)"}};

}  // namespace

Bytes shared_secret(db::Database& db, std::string_view name, const std::function<Bytes()>& make) {
  db.migrate("appview.secrets", kMigrations);
  auto found = db.exec("SELECT value FROM appview_secrets WHERE name = ?", {name});
  if (found.empty()) {
    // Instances starting together each make one; the first insert wins and
    // everyone reads that one.
    db.exec("INSERT INTO appview_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            {name, hex::encode(make())});
    found = db.exec("SELECT value FROM appview_secrets WHERE name = ?", {name});
  }
  return hex::decode(found.front().text(0));
}

PrivateKey shared_key(db::Database& db, std::string_view name, KeyType type) {
  return PrivateKey::from_bytes(type, shared_secret(db, name, [type] { return PrivateKey::generate(type).secret(); }));
}

}  // namespace atcr::appview
