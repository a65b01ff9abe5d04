#include "atcr/repo/commit.h"

#include "atcr/data/cbor.h"
#include "atcr/data/syntax.h"
#include "atcr/data/tid.h"
#include "atcr/error.h"

namespace atcr {

namespace {

// Writes the commit map in canonical key order: did, rev, sig, data, prev,
// version (length first, then bytewise).
Bytes encode_commit(const Commit& c, bool with_sig) {
  Bytes out;
  out.reserve(160);
  cbor::Writer w(out);
  w.map_header(with_sig ? 6 : 5);
  w.text("did");
  w.text(c.did);
  w.text("rev");
  w.text(c.rev);
  if (with_sig) {
    w.text("sig");
    w.bytes(c.sig);
  }
  w.text("data");
  w.link(c.data);
  w.text("prev");
  if (c.prev)
    w.link(*c.prev);
  else
    w.null();
  w.text("version");
  w.integer(Commit::kVersion);
  return out;
}

}  // namespace

Bytes Commit::unsigned_bytes() const { return encode_commit(*this, false); }
Bytes Commit::encode() const { return encode_commit(*this, true); }

Commit Commit::decode(BytesView block) {
  Value v = cbor::decode(block);
  if (!v.is_map()) throw ParseError("commit: not a map");
  for (const auto& [key, _] : v.as_map()) {
    if (key != "did" && key != "rev" && key != "sig" && key != "data" && key != "prev" && key != "version")
      throw ParseError("commit: unexpected field \"" + key + "\"");
  }
  try {
    std::int64_t version = v.at("version").as_integer();
    if (version != kVersion) throw ParseError("unsupported version " + std::to_string(version));
    const Value& prev = v.at("prev");  // present, even when null
    Commit c{v.at("did").as_string(), v.at("data").as_link(), v.at("rev").as_string(),
             prev.is_null() ? std::nullopt : std::optional<Cid>(prev.as_link()), v.at("sig").as_bytes()};
    syntax::validate_did(c.did);
    Tid::parse(c.rev);
    return c;
  } catch (const ParseError& e) {
    throw ParseError(std::string("commit: ") + e.what());
  }
}

Commit Commit::sign(std::string did, const Cid& data, std::string rev, const PrivateKey& key) {
  Commit c{std::move(did), data, std::move(rev), std::nullopt, {}};
  c.sig = key.sign(c.unsigned_bytes());
  return c;
}

bool Commit::verify(const PublicKey& key) const { return key.verify(unsigned_bytes(), sig); }

}  // namespace atcr
