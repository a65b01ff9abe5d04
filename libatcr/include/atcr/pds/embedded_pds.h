// An embeddable single-repo PDS: one DID, one signed repository, one
// persistent firehose. An ATCR hold embeds one to publish its captain, crew
// and layer records the way relays and atproto tools expect from any PDS.
//
// Everything lives under PdsConfig::data_dir:
//   signing.key     the repo's #atproto signing key (0600; see PrivateKey::save)
//   rotation.key    did:plc only: the PLC rotation key (0600)
//   repo.sqlite     the repository (SqliteRepoStorage)
//   events.sqlite   the firehose log (Sequencer)
//   identity.json   what was last announced: DID, handle, signing key, and
//                   for did:plc the genesis op (re-submitted if the
//                   directory never saw it)
//
// First boot: generate the keys, create the DID (did:plc: submit the genesis
// op), create the repo (an empty signed commit), and sequence #identity,
// #account and the initial #commit. Later boots load all of that, then:
//   - did:plc: compare the directory's signing key, PDS endpoint and handle
//     with ours and submit an update op (signed by the rotation key) on drift;
//   - if the signing key changed (the key file was replaced), re-sign the
//     repo under the new key and sequence #identity + #sync;
//   - if the handle changed, sequence #identity;
//   - crash recovery: each commit is stored first (one SQLite transaction in
//     repo.sqlite) and its #commit event appended right after (one
//     transaction in events.sqlite). If the process dies between the two,
//     the last sequenced commit differs from the repo head on the next boot,
//     and a #sync event for the head is sequenced: consumers that missed the
//     #commit resynchronise from sync.getRepo, as the sync spec intends.
//
// Thread-safe: writes are serialised by a mutex (commit + event append as
// one step, so firehose order is commit order); reads share that mutex
// because the repository's in-memory tree is not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/data/value.h"
#include "atcr/identity/did_document.h"
#include "atcr/net/http_client.h"
#include "atcr/pds/sequencer.h"
#include "atcr/repo/repository.h"

namespace atcr::pds {

enum class DidMethod { kWeb, kPlc };

struct PdsConfig {
  std::filesystem::path data_dir;
  // The origin this PDS is reached at: "https://hold.example.com" or
  // "http://127.0.0.1:8080". Becomes the #atproto_pds serviceEndpoint and,
  // for did:web, the DID (host, with a port as %3A<port>).
  std::string public_url;
  DidMethod did_method = DidMethod::kWeb;
  // Default: the host of public_url (with ":port" if it has one).
  std::string handle;
  // Extra DID-document services beside #atproto_pds (the hold adds
  // {"atcr_hold", "AtcrHoldService", public_url}).
  std::vector<identity::Service> extra_services;
  KeyType key_type = KeyType::kSecp256k1;

  // did:plc only.
  std::string plc_url = "https://plc.directory";
  // Adopt this existing did:plc instead of creating one. Our rotation key
  // (data_dir/rotation.key, placed there beforehand, or generated) must be
  // one of its rotation keys, or the directory refuses our update ops.
  std::string plc_did;
  std::shared_ptr<const net::HttpClient> http;  // default: a client of its own

  SequencerOptions sequencer;
  // Collect unreachable repo blocks after this many commits (0: only when
  // collect_garbage() is called). A collection walks the whole repo, which
  // for a hold-sized repo costs milliseconds; per commit it would not.
  std::size_t gc_every_commits = 500;
};

struct RepoDescription {
  std::string did;
  std::string handle;
  std::vector<std::string> collections;
  Value did_document;
};

struct ListedRecord {
  std::string uri;  // at://<did>/<collection>/<rkey>
  Cid cid;
  Value value;
};

struct RecordPage {
  std::vector<ListedRecord> records;
  std::optional<std::string> cursor;  // the last rkey, when the page is full
};

class EmbeddedPds {
 public:
  // Boots as described above. Throws ConfigError (bad config, or a data dir
  // that belongs to another DID), StorageError, identity::PlcError /
  // net::HttpError (directory trouble on did:plc).
  static std::unique_ptr<EmbeddedPds> open(PdsConfig config);
  ~EmbeddedPds();
  EmbeddedPds(const EmbeddedPds&) = delete;
  EmbeddedPds& operator=(const EmbeddedPds&) = delete;

  const std::string& did() const;
  const std::string& handle() const;
  const std::string& public_url() const;
  DidMethod did_method() const;
  PublicKey signing_key() const;
  // The DID document we publish (did:web) or expect the directory to show.
  identity::DidDocument did_document() const;
  Value did_document_json() const;

  // One commit for the batch and its #commit event (a #sync instead when
  // the batch has more than kMaxCommitOps writes or its CAR would exceed
  // kMaxCommitBlocksBytes). See Repository::apply_writes for the errors.
  // Returns the commit.
  CommitResult apply_writes(const std::vector<RecordWrite>& writes);

  std::optional<Record> get_record(std::string_view collection, std::string_view rkey) const;
  // Up to `limit` records of `collection` after `cursor` (an rkey).
  RecordPage list_records(std::string_view collection, std::size_t limit, std::string_view cursor = {},
                          bool reverse = false) const;
  std::vector<std::string> collections() const;
  Bytes export_car() const;
  Bytes record_proof(std::string_view collection, std::string_view rkey) const;
  Cid head() const;
  std::string rev() const;
  RepoDescription describe_repo() const;

  Sequencer& sequencer();
  // Deletes unreachable repo blocks now; returns the count. Also runs every
  // gc_every_commits commits.
  std::size_t collect_garbage();
  // Applies the sequencer's retention; a hold calls this on a schedule.
  std::size_t trim_events();

  // "did:web:" + host, with ":port" percent-encoded ("did:web:localhost%3A8080").
  // Throws ConfigError for a URL that is not http(s)://host[:port][/].
  static std::string did_web_for(std::string_view public_url);

 private:
  struct Impl;
  explicit EmbeddedPds(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::pds
