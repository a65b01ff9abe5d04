// Internal: the web UI's page fragments, rendered from plain structs (what
// the handlers gathered from the index, PDSes and holds). Every string in
// these structs is untrusted (users wrote it) and escaped here; functions
// return HTML ready for WebSessions::page.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/index/index.h"
#include "util/format_size.h"

namespace atcr::appview::web {

// A repository as lists show it (home, search, user pages).
struct RepoCard {
  std::string did{};
  std::string handle{};  // "" if unknown: the DID is shown and linked
  std::string repository{};
  std::string description{};  // the README's first paragraph-ish text (plain)
  std::string updated_at{};   // atproto datetime, "" if unknown
  std::int64_t stars = 0;
  std::int64_t pulls = 0;
  std::string avatar_cid{};  // io.atcr.repo.page's avatar blob, "" if none
};

// One tag on a repository page.
struct TagRow {
  std::string tag{};
  std::string digest{};
  std::string media_type{};
  std::uint64_t size = 0;  // config + layers; for an index, its children's sizes are not summed
  std::string created_at{};
  std::vector<std::string> platforms{};  // "linux/amd64", "linux/arm/v7"
  // io.atcr.hold.scan summary ("3 critical, 1 high"), "" without a scan record.
  std::string scan{};
  bool scan_clean = false;
};

struct RepoPage {
  RepoCard repo;
  std::string readme;  // markdown
  std::vector<TagRow> tags;
  bool starred = false;          // by the viewer
  bool can_edit = false;         // the viewer owns it
  std::string hold_did;          // where its blobs are ("" unknown)
  std::optional<bool> hold_up;   // reachability, nullopt if not checked
  std::string registry;          // host[:port] clients pull from
  std::string oci_client;        // the viewer's io.atcr.sailor.profile ociClient ("" = docker)
};

using util::format_size;  // "1.5 MB"; "999 B"
// "5 minutes ago", "3 days ago", "just now"; "" for a datetime it cannot read.
std::string format_age(std::string_view datetime, std::chrono::system_clock::time_point now);
// The index's answers as the views show them.
RepoCard card_of(const index::RepositorySummary& summary);
std::vector<RepoCard> cards_of(const std::vector<index::RepositorySummary>& summaries);
TagRow tag_row_of(const index::TagInfo& tag);
// io.atcr.hold.scan as a badge: "3 critical, 1 high", "no known
// vulnerabilities" (clean), "scan failed".
std::pair<std::string, bool> scan_summary(const index::ScanInfo& scan);

// "/r/<identity>/<repository>", each path component URL-encoded (not
// HTML-escaped).
std::string repo_path(std::string_view identity, std::string_view repository);
// A README's first line of prose (headings, images, HTML, tables and code
// fences skipped; emphasis marks dropped), at most 300 bytes: the
// description cards and OpenGraph tags show. Plain text, not escaped.
std::string summary_line(std::string_view markdown);
// "<identity>/<repository>" for URLs and commands: the handle, else the DID.
std::string repo_ref(const RepoCard& repo);
// The command that pulls `reference` (host/name:tag) with the client an
// ociClient value names (docker when "" or unknown).
std::string pull_command(std::string_view oci_client, std::string_view reference);
// The OCI clients io.atcr.sailor.profile's ociClient knows.
const std::vector<std::string>& oci_clients();

// Where a repository's avatar is served from this origin (the CID in the
// query: a new avatar is a new URL), "" when it has none.
std::string avatar_href(const RepoCard& repo);

std::string repo_cards(const std::vector<RepoCard>& repos, std::string_view empty_message);
// The body of /r/<handle>/<repo>. `csrf_field` is the viewer's form field
// ("" when signed out: the star button becomes a sign-in link).
std::string repo_page_body(const RepoPage& page, std::string_view csrf_field);
// OpenGraph/Twitter meta tags for a repository page.
std::string repo_meta(const RepoPage& page, std::string_view public_url);
// Previous/next links for a paginated list ("?q=...&page=N").
std::string pager(std::string_view base_query, int page, bool has_next);

}  // namespace atcr::appview::web
