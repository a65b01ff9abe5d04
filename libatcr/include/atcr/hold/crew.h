// Who may do what on a hold: the captain record, crew records, and the one
// function that decides.
//
// Both records live in the hold's own repo (io.atcr.hold.captain/self and
// one io.atcr.hold.crew per member), so anyone can audit a hold's access
// list by reading its repo. The rules (ATCR's, docs/CREW_ACCESS_CONTROL.md):
//
//   read  (pull blobs): anyone if captain.public; else the owner, any crew
//         member with blob:read, blob:write or crew:admin, or any
//         authenticated user when allowAllCrew;
//   write (push blobs): the owner, crew with blob:write or crew:admin, or
//         any authenticated user when allowAllCrew;
//   admin (delete records, manage crew): the owner or crew with crew:admin.
//
// "Private" gates anonymous access first: an anonymous caller of a private
// hold gets 401 (authenticate and retry), a known caller without the right
// gets 403.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "atcr/data/value.h"
#include "atcr/oci/hold_records.h"

namespace atcr::hold {

using oci::kCaptainCollection;
using oci::kCrewCollection;
inline constexpr std::string_view kCaptainRkey = "self";

inline constexpr std::string_view kBlobRead = "blob:read";
inline constexpr std::string_view kBlobWrite = "blob:write";
inline constexpr std::string_view kCrewAdmin = "crew:admin";

struct Captain {
  std::string owner;  // DID
  bool is_public = false;
  bool allow_all_crew = false;
  bool enable_bluesky_posts = false;
  std::string deployed_at;  // RFC 3339
  std::string region;       // optional
  std::string provider;     // optional
  std::string successor;    // optional DID of a hold this one moved to

  Value to_record() const;
  // Lenient about optional fields; throws ParseError without owner.
  static Captain from_record(const Value& record);
};

struct CrewMember {
  std::string member;  // DID
  std::string role;    // "owner" | "admin" | "write" | "read" | "member" (see is_known_role)
  std::vector<std::string> permissions;
  std::string tier;  // quota tier; "" = the hold's default
  std::string added_at;

  bool has(std::string_view permission) const;
  Value to_record() const;
  // Accepts the legacy "did" field for "member"; throws ParseError without one.
  static CrewMember from_record(const Value& record);
};

// The crew.role knownValues ("owner", "admin", "write", "read") and
// requestCrew's default, "member": the roles the hold writes. Records
// written by others may carry any string (knownValues are open), but a
// self-service join may not store one of its own choosing.
bool is_known_role(std::string_view role);

// The crew record's key for a member: the DID itself when it is a valid
// record key (did:plc:...), otherwise a hash of it (a did:web with a port
// carries '%'). Deterministic, so joining twice updates one record.
std::string crew_rkey(std::string_view member_did);

enum class Access { kRead, kWrite, kAdmin };

struct Decision {
  bool allowed = false;
  int status = 200;   // 401 or 403 when refused
  std::string error;  // XRPC error name: "AuthRequired" or "Forbidden"
  std::string reason;

  explicit operator bool() const { return allowed; }
};

// `caller` is the authenticated DID, "" for anonymous; `crew` the caller's
// crew record, nullptr if none.
Decision authorize(const Captain& captain, const CrewMember* crew, std::string_view caller, Access access);

}  // namespace atcr::hold
