// Internal: the AppView's keys when several instances share one database
// (database.url): the registry token signing key (a token one instance
// issues must verify on every other), the browser session cookie key and
// the OAuth client key. The first instance to start makes each; the others
// read it. (With SQLite they stay files in data_dir, as before.)
//
// Kept in the appview_secrets table, hex-encoded: whoever can read the
// database can read users' PDS sessions too, so it is as sensitive as they
// are. Throws StorageError when the database fails.
#pragma once

#include <functional>
#include <string_view>

#include "atcr/bytes.h"
#include "atcr/crypto/keys.h"
#include "atcr/db/database.h"

namespace atcr::appview {

// The secret `name`, made with `make` if no instance has made it yet.
Bytes shared_secret(db::Database& db, std::string_view name, const std::function<Bytes()>& make);
// A private key of `type` kept as shared_secret `name`.
PrivateKey shared_key(db::Database& db, std::string_view name, KeyType type);

}  // namespace atcr::appview
