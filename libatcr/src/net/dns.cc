#include "atcr/net/dns.h"
#include "util/text.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace atcr::net {

namespace {

constexpr std::size_t kMaxNameLength = 253;
constexpr std::size_t kMaxLabelLength = 63;
// The largest DNS message (a TCP answer's length prefix is 16 bits).
constexpr std::size_t kMaxMessage = 65535;
// A longer CNAME chain in one answer is a loop or abuse.
constexpr int kMaxCnameHops = 8;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// `name` lowercased without its trailing dot, after checking that it is a
// hostname we are willing to query. ParseError otherwise.
std::string checked_name(std::string_view name) {
  auto invalid = [&](std::string_view why) {
    return ParseError("dns: invalid name \"" + std::string(name.substr(0, kMaxNameLength + 2)) +
                      "\": " + std::string(why));
  };
  std::string_view rest = name;
  if (rest.ends_with('.')) rest.remove_suffix(1);
  if (rest.empty()) throw invalid("empty");
  if (rest.size() > kMaxNameLength) throw invalid("longer than 253 characters");
  if (!std::all_of(rest.begin(), rest.end(), [](char c) { return c == '.' || is_name_char(c); }))
    throw invalid("only letters, digits, '-', '_' and '.' are allowed");
  for (std::size_t start = 0; start <= rest.size();) {
    std::size_t end = std::min(rest.find('.', start), rest.size());
    if (end == start) throw invalid("empty label");
    if (end - start > kMaxLabelLength) throw invalid("label longer than 63 characters");
    start = end + 1;
  }
  return util::ascii_lower(rest);
}

// Names as ns_parserr and dn_expand print them, for comparison.
std::string comparable(const char* presentation) {
  std::string_view s(presentation);
  if (s.ends_with('.')) s.remove_suffix(1);
  return util::ascii_lower(s);
}

const char* rcode_name(int rcode) {
  switch (rcode) {
    case ns_r_formerr:
      return "FORMERR";
    case ns_r_servfail:
      return "SERVFAIL";
    case ns_r_notimpl:
      return "NOTIMP";
    case ns_r_refused:
      return "REFUSED";
    default:
      return "an unexpected response code";
  }
}

// Parses one response for one query name; each failure names both.
class ResponseParser {
 public:
  ResponseParser(BytesView message, std::string qname) : qname_(std::move(qname)) {
    if (message.size() > kMaxMessage) fail("over 65535 bytes");
    if (ns_initparse(message.data(), static_cast<int>(message.size()), &msg_) != 0)
      fail("malformed message (truncated or inconsistent section counts)");
  }

  std::vector<std::string> txt_strings();

 private:
  [[noreturn]] void fail(std::string_view why) const {
    throw DnsError("dns: TXT answer for " + qname_ + ": " + std::string(why));
  }
  void check_header() const;
  void check_question();
  ns_rr record(ns_sect section, int index);
  std::string cname_target(const ns_rr& rr) const;
  std::string owner_of_txt();
  std::string txt_string(const ns_rr& rr) const;

  std::string qname_;
  ns_msg msg_{};
};

void ResponseParser::check_header() const {
  if (!ns_msg_getflag(msg_, ns_f_qr)) fail("a query, not a response");
  if (ns_msg_getflag(msg_, ns_f_tc)) fail("truncated response (TC bit set)");
}

ns_rr ResponseParser::record(ns_sect section, int index) {
  ns_rr rr{};
  if (ns_parserr(&msg_, section, index, &rr) != 0)
    fail("malformed record " + std::to_string(index) + ": " + std::strerror(errno));
  return rr;
}

void ResponseParser::check_question() {
  if (ns_msg_count(msg_, ns_s_qd) != 1) fail("not exactly one question");
  ns_rr question = record(ns_s_qd, 0);
  if (comparable(ns_rr_name(question)) != qname_ || ns_rr_type(question) != ns_t_txt ||
      ns_rr_class(question) != ns_c_in)
    fail(std::string("answers a different question: ") + ns_rr_name(question));
}

std::string ResponseParser::cname_target(const ns_rr& rr) const {
  char target[NS_MAXDNAME];
  int used = dn_expand(ns_msg_base(msg_), ns_msg_end(msg_), ns_rr_rdata(rr), target, sizeof target);
  if (used < 0 || used != ns_rr_rdlen(rr)) fail("malformed CNAME record");
  return comparable(target);
}

// Where the TXT records are: the query name, or the end of its CNAME chain.
std::string ResponseParser::owner_of_txt() {
  std::string owner = qname_;
  int answers = ns_msg_count(msg_, ns_s_an);
  for (int hop = 0; hop <= kMaxCnameHops; ++hop) {
    bool moved = false;
    for (int i = 0; i < answers && !moved; ++i) {
      ns_rr rr = record(ns_s_an, i);
      if (ns_rr_type(rr) == ns_t_cname && ns_rr_class(rr) == ns_c_in && comparable(ns_rr_name(rr)) == owner) {
        owner = cname_target(rr);
        moved = true;
      }
    }
    if (!moved) return owner;
  }
  fail("CNAME chain longer than " + std::to_string(kMaxCnameHops));
}

// A TXT record's character-strings (each a length byte and that many
// bytes), concatenated.
std::string ResponseParser::txt_string(const ns_rr& rr) const {
  const std::uint8_t* data = ns_rr_rdata(rr);
  std::size_t size = ns_rr_rdlen(rr);
  if (size == 0) fail("TXT record without a character-string");
  std::string out;
  for (std::size_t at = 0; at < size;) {
    std::size_t length = data[at++];
    if (length > size - at) fail("TXT character-string runs past its record");
    out.append(reinterpret_cast<const char*>(data + at), length);
    at += length;
  }
  return out;
}

std::vector<std::string> ResponseParser::txt_strings() {
  check_header();
  check_question();
  int rcode = ns_msg_getflag(msg_, ns_f_rcode);
  if (rcode == ns_r_nxdomain) return {};
  if (rcode != ns_r_noerror)
    fail(std::string("server answered ") + rcode_name(rcode) + " (" + std::to_string(rcode) + ")");
  std::string owner = owner_of_txt();
  std::vector<std::string> out;
  for (int i = 0; i < ns_msg_count(msg_, ns_s_an); ++i) {
    ns_rr rr = record(ns_s_an, i);
    if (ns_rr_type(rr) == ns_t_txt && ns_rr_class(rr) == ns_c_in && comparable(ns_rr_name(rr)) == owner)
      out.push_back(txt_string(rr));
  }
  return out;
}

// A resolver state of our own for each lookup: res_nquery with a private
// state is thread-safe, and the timeouts set here stay with this lookup.
class ResolverState {
 public:
  ResolverState(std::string_view name, std::chrono::milliseconds timeout) {
    if (res_ninit(&state_) != 0) throw DnsError("dns: TXT lookup of " + std::string(name) + ": res_ninit failed");
    // glibc waits `retrans` seconds for each nameserver on each of `retry`
    // rounds; one round, with the timeout split among the servers.
    long servers = std::max(1, state_.nscount);
    long per_server = timeout.count() / servers / 1000;
    state_.retrans = static_cast<int>(std::clamp(per_server, 1L, 30L));
    state_.retry = 1;
    // Lets TXT answers over 512 bytes come back over UDP.
    state_.options |= RES_USE_EDNS0;
  }
  ~ResolverState() { res_nclose(&state_); }
  ResolverState(const ResolverState&) = delete;
  ResolverState& operator=(const ResolverState&) = delete;

  res_state get() { return &state_; }

 private:
  struct __res_state state_ {};
};

[[noreturn]] void lookup_failed(const std::string& name, int h_error, int saved_errno) {
  std::string why;
  if (h_error == TRY_AGAIN) {
    // All servers timed out, were unreachable or answered SERVFAIL.
    why = saved_errno == ETIMEDOUT ? "timed out"
          : saved_errno == 0       ? "no usable answer (SERVFAIL)"
                                   : std::string("no usable answer (SERVFAIL or ") + std::strerror(saved_errno) + ")";
  } else if (h_error == NO_RECOVERY) {
    why = "the server refused or could not parse the query (FORMERR, REFUSED or NOTIMP)";
  } else {
    why = "resolver error " + std::to_string(h_error);
  }
  throw DnsError("dns: TXT lookup of " + name + ": " + why);
}

}  // namespace

std::vector<std::string> parse_txt_response(BytesView message, std::string_view name) {
  return ResponseParser(message, checked_name(name)).txt_strings();
}

std::vector<std::string> lookup_txt(std::string_view name, std::chrono::milliseconds timeout) {
  std::string qname = checked_name(name);
  ResolverState resolver(qname, timeout);
  std::vector<std::uint8_t> answer(kMaxMessage);
  errno = 0;
  // res_nquery, unlike res_nsearch, never appends search domains.
  int size =
      res_nquery(resolver.get(), qname.c_str(), ns_c_in, ns_t_txt, answer.data(), static_cast<int>(answer.size()));
  int saved_errno = errno;
  if (size < 0) {
    int h_error = resolver.get()->res_h_errno;
    if (h_error == HOST_NOT_FOUND || h_error == NO_DATA) return {};
    lookup_failed(qname, h_error, saved_errno);
  }
  // res_nquery reports the full size of an answer that did not fit.
  if (static_cast<std::size_t>(size) > answer.size())
    throw DnsError("dns: TXT lookup of " + qname + ": answer over " + std::to_string(answer.size()) + " bytes");
  return ResponseParser(BytesView(answer.data(), static_cast<std::size_t>(size)), qname).txt_strings();
}

}  // namespace atcr::net
