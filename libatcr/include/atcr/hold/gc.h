// The hold's garbage collection: what it reclaims, and the report a run
// (Hold::gc) gives. The collection runs online, beside pushes and pulls.
//
// A blob is deleted only when all of these hold:
//   - no io.atcr.hold.layer record on the hold names its digest, and no
//     blob ref of the hold's own records does (io.atcr.hold.scan SBOMs and
//     reports, the app.bsky.actor.profile avatar);
//   - no manifest in any user's PDS references it (the users are the crew,
//     the owner and every userDid of a layer record; their io.atcr.manifest
//     records are read from their own PDS, which is the truth). A manifest
//     counts while it is tagged, referenced by a kept index, or, unless the
//     user's io.atcr.sailor.profile says autoRemoveUntagged, at all;
//   - no upload in flight announced it, and no client touched it (HEAD,
//     GET, completeUpload) within the grace period;
//   - it was found unreferenced by an earlier run at least grace_period
//     ago (mark, then sweep: the candidate set is kept in
//     data_dir/gc.sqlite), and was last written longer ago than that.
// A user whose PDS cannot be read keeps everything: their layer records
// stay, no blob is deleted by that run (any blob might be theirs), and the
// run says so in `warnings`.
//
// A run also deletes layer records older than the grace period whose
// manifest is gone from the user's PDS (or is untagged, for users with
// autoRemoveUntagged), aborts abandoned uploads (sessions past
// uploads.session_ttl, stray temp data, S3 multipart uploads no session
// knows), and collects the hold repo's unreferenced blocks.
//
// Killing the process at any point is safe: the candidate set is only a
// list of what may go, every deletion re-checks first, and a later run
// finishes what one cut short.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "atcr/data/value.h"

namespace atcr::hold {

// One thing a run reclaimed (or, in a dry run, would reclaim), and why.
struct GcItem {
  std::string kind;    // "blob" | "layer-record"
  std::string target;  // the digest, or the record's at-uri
  std::uint64_t bytes = 0;
  std::string reason;
};

struct GcReport {
  bool dry_run = false;
  std::string started_at;   // atproto datetimes
  std::string finished_at;
  std::uint64_t blobs_scanned = 0;
  std::uint64_t blobs_referenced = 0;
  // Unreferenced, but still inside the grace period (marked this run or
  // an earlier one): a later run deletes them if nothing claims them.
  std::uint64_t blobs_waiting = 0;
  std::uint64_t blobs_deleted = 0;
  std::uint64_t bytes_freed = 0;
  std::uint64_t layer_records_deleted = 0;
  std::uint64_t uploads_removed = 0;      // sessions, stray data, orphan multipart uploads
  std::uint64_t repo_blocks_removed = 0;  // the hold's own repo
  std::vector<GcItem> items;              // at most 1000 kept; counts above are exact
  std::vector<std::string> warnings;      // users that could not be checked, deletions that failed

  // {dryRun, startedAt, finishedAt, blobsScanned, ..., items: [{kind,
  // target, bytes, reason}], warnings}: what the CLI prints and the admin
  // panel shows. from_json reads it back (history).
  Value to_json() const;
  static GcReport from_json(const Value& value);
  // A few lines for people: counts, bytes, then one line per item.
  std::string summary() const;
};

}  // namespace atcr::hold
