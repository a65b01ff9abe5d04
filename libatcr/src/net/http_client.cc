#include "atcr/net/http_client.h"
#include "util/text.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>

namespace atcr::net {

namespace {

// Connection reuse. A client keeps a pool of curl easy handles; a request
// takes one, uses it on its own thread and puts it back. Each handle keeps
// its own connection cache (curl_easy_reset keeps live connections), and the
// pool is a stack, so sequential requests get the handle whose connection
// was used last. The pool grows to the number of concurrent requests and
// keeps at most kMaxIdleHandles. A CURLSH shares the DNS cache and TLS
// sessions (for resumption) among the handles. The connection cache itself
// is not shared: then a connection only ever belongs to the one handle that
// is performing on it, and no curl-internal connection locking is involved.
constexpr std::size_t kMaxIdleHandles = 16;

// Bound on one response's header block (curl already bounds a single line).
constexpr std::size_t kMaxHeaderBytes = 256 * 1024;

constexpr const char* kProtocols = "http,https";

// curl's receive and send buffers for streamed bodies (curl allows up to
// 10 MiB down and 2 MiB up); a streaming transfer holds one of each.
constexpr long kStreamBufferBytes = 512 * 1024;

void init_curl_once() {
  // curl_global_init is not thread-safe in every libcurl build; a static
  // runs it exactly once. It is never undone: curl_global_cleanup at exit
  // would race with any thread still using curl, and the OS frees it all.
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) throw HttpError(fmt::format("http: curl_global_init failed: {}", curl_easy_strerror(rc)));
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c != '\0' && is_token_char(c); });
}

// The code in a status line ("HTTP/1.1 404 Not Found", "HTTP/2 200"), or 0.
int status_of(std::string_view line) {
  auto space = line.find(' ');
  if (space == std::string_view::npos || line.size() < space + 4) return 0;
  int code = 0;
  for (char c : line.substr(space + 1, 3)) {
    if (c < '0' || c > '9') return 0;
    code = code * 10 + (c - '0');
  }
  return code;
}

// The URL for an error message, without any "user:password@".
std::string url_for_message(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  auto authority = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", authority);
  auto at = url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < authority) return std::string(url);
  return std::string(url.substr(0, authority)) + "***@" + std::string(url.substr(at + 1));
}

struct EasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// DNS cache and TLS sessions shared by a client's handles; curl calls back
// for a lock around each use.
class Share {
 public:
  Share() : share_(curl_share_init()) {
    if (!share_) throw HttpError("http: curl_share_init failed");
    set(CURLSHOPT_LOCKFUNC, &Share::lock);
    set(CURLSHOPT_UNLOCKFUNC, &Share::unlock);
    set(CURLSHOPT_USERDATA, this);
    set(CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    set(CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  Share(const Share&) = delete;
  Share& operator=(const Share&) = delete;

  CURLSH* get() const { return share_.get(); }

 private:
  struct Deleter {
    void operator()(CURLSH* share) const { curl_share_cleanup(share); }
  };

  template <typename T>
  void set(CURLSHoption option, T value) {
    if (CURLSHcode rc = curl_share_setopt(share_.get(), option, value); rc != CURLSHE_OK)
      throw HttpError(
          fmt::format("http: curl_share_setopt({}): {}", static_cast<int>(option), curl_share_strerror(rc)));
  }
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<Share*>(self)->mutexes_[data].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* self) { static_cast<Share*>(self)->mutexes_[data].unlock(); }

  std::unique_ptr<CURLSH, Deleter> share_;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> mutexes_;  // one per kind of shared data
};

class HandlePool {
 public:
  EasyHandle acquire() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        EasyHandle handle = std::move(idle_.back());
        idle_.pop_back();
        return handle;
      }
    }
    EasyHandle handle(curl_easy_init());
    if (!handle) throw HttpError("http: curl_easy_init failed");
    // Survives curl_easy_reset, like the connection cache.
    if (CURLcode rc = curl_easy_setopt(handle.get(), CURLOPT_SHARE, share_.get()); rc != CURLE_OK)
      throw HttpError(fmt::format("http: attaching the shared DNS/TLS cache: {}", curl_easy_strerror(rc)));
    return handle;
  }

  void release(EasyHandle handle) {
    curl_easy_reset(handle.get());  // drops the request's options, keeps connections
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(handle));
  }

 private:
  Share share_;  // declared first, so destroyed after the handles using it
  std::mutex mu_;
  std::vector<EasyHandle> idle_;
};

// A pooled handle for the duration of one request.
class Lease {
 public:
  explicit Lease(HandlePool& pool) : pool_(pool), handle_(pool.acquire()) {}
  ~Lease() { pool_.release(std::move(handle_)); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  CURL* get() const { return handle_.get(); }

 private:
  HandlePool& pool_;
  EasyHandle handle_;
};

// One request in flight: its inputs, the response being built, and why a
// callback stopped the transfer.
class Transfer {
 public:
  Transfer(const HttpRequest& request, BytesView body, const BodySource& source, const BodySink& sink,
           const HttpOptions& options)
      : request_(request), body_(body), source_(source), sink_(sink), options_(options) {}

  HttpResponse run(CURL* handle);

 private:
  [[noreturn]] void fail(std::string_view reason) const {
    throw HttpError(fmt::format("http: {} {}: {}", request_.method, url_for_message(request_.url), reason));
  }
  template <typename T>
  void set(CURL* handle, CURLoption option, T value) const {
    if (CURLcode rc = curl_easy_setopt(handle, option, value); rc != CURLE_OK)
      fail(fmt::format("setting curl option {}: {}", static_cast<int>(option), curl_easy_strerror(rc)));
  }
  // Runs a callback's work. Nothing may unwind through curl's C frames: an
  // exception (the caller's source or sink, or bad_alloc) is kept, curl is
  // told to abort, and run() rethrows it once curl_easy_perform returns.
  template <typename F, typename R>
  R guarded(F&& work, R abort) noexcept {
    try {
      return work();
    } catch (...) {
      callback_error_ = std::current_exception();
      return abort;
    }
  }
  bool streams_upload() const { return static_cast<bool>(source_.read); }
  bool has_body() const;

  void validate() const;
  void configure(CURL* handle);
  void configure_method(CURL* handle);
  Slist header_list() const;
  Slist connect_to_list() const;

  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t on_upload(char* buffer, std::size_t size, std::size_t count, void* self);
  static int on_seek(void* self, curl_off_t offset, int origin);
  static curl_socket_t on_open_socket(void* self, curlsocktype purpose, curl_sockaddr* address);
  static int on_progress(void* self, curl_off_t, curl_off_t received, curl_off_t, curl_off_t sent);
  bool check_stall(curl_off_t moved);
  bool take_header_line(std::string_view line);
  bool take_body(BytesView chunk);
  std::size_t produce_body(std::uint8_t* buffer, std::size_t room);

  const HttpRequest& request_;
  BytesView body_;  // the request body unless streamed
  const BodySource& source_;
  const BodySink& sink_;
  const HttpOptions& options_;

  Slist headers_;
  Slist connect_to_;
  std::array<char, CURL_ERROR_SIZE> error_buffer_{};
  std::uint64_t sent_ = 0;
  std::size_t header_bytes_ = 0;
  curl_off_t moved_ = 0;  // bytes received and sent, as of the last progress
  std::chrono::steady_clock::time_point moved_at_ = std::chrono::steady_clock::now();
  HttpResponse response_;
  std::string abort_reason_;           // set when one of our callbacks aborted
  std::exception_ptr callback_error_;  // thrown by the caller's source or sink
};

bool Transfer::has_body() const {
  // PUT, POST and PATCH always send a Content-Length, even of 0, which some
  // servers (S3) require.
  return streams_upload() || !body_.empty() || request_.method == "POST" || request_.method == "PUT" ||
         request_.method == "PATCH";
}

void Transfer::validate() const {
  // Method and headers go to the wire verbatim; CR/LF in them would let a
  // caller's input inject headers or requests.
  if (!is_token(request_.method)) fail("invalid method");
  for (const auto& [name, value] : request_.headers) {
    if (!is_token(name)) fail(fmt::format("invalid header name \"{}\"", name));
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      fail(fmt::format("header \"{}\" has a line break or NUL in its value", name));
  }
  if (streams_upload() && !body_.empty()) fail("both a request body and a body source");
  // curl reads 0 as "no limit"; every request here is bounded.
  if (options_.timeout.count() <= 0 || options_.connect_timeout.count() <= 0) fail("timeouts must be positive");
  if (options_.max_redirects < 0) fail("max_redirects is negative");
}

Slist Transfer::header_list() const {
  bool has_content_type = false, has_expect = false;
  Slist list;
  auto append = [&](const std::string& line) {
    curl_slist* grown = curl_slist_append(list.get(), line.c_str());
    if (grown == nullptr) fail("out of memory building headers");
    list.release();
    list.reset(grown);
  };
  for (const auto& [name, value] : request_.headers) {
    has_content_type |= util::iequals_ascii(name, "content-type");
    has_expect |= util::iequals_ascii(name, "expect");
    // "Name:" would tell curl to remove the header; "Name;" sends it empty.
    append(value.empty() ? name + ";" : name + ": " + value);
  }
  // curl would otherwise label a body application/x-www-form-urlencoded.
  if (has_body() && !has_content_type) append("Content-Type:");
  // curl would otherwise wait up to a second for "100 Continue" before
  // sending a large body; the servers we talk to do not need the handshake.
  if (!has_expect) append("Expect:");
  return list;
}

Slist Transfer::connect_to_list() const {
  Slist list;
  for (const auto& entry : options_.connect_to) {
    curl_slist* grown = curl_slist_append(list.get(), entry.c_str());
    if (grown == nullptr) fail("out of memory building connect_to");
    list.release();
    list.reset(grown);
  }
  return list;
}

void Transfer::configure_method(CURL* handle) {
  const std::string& method = request_.method;
  if (method == "HEAD") {
    // A custom "HEAD" would make curl wait for a body that never comes.
    set(handle, CURLOPT_NOBODY, 1L);
    return;
  }
  if (!has_body()) {
    if (method != "GET") set(handle, CURLOPT_CUSTOMREQUEST, method.c_str());
    return;
  }
  // Every body, buffered or streamed, goes through on_upload as a POST of a
  // known size; another method just renames the request.
  set(handle, CURLOPT_POST, 1L);
  set(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(streams_upload() ? source_.size : body_.size()));
  set(handle, CURLOPT_READFUNCTION, &Transfer::on_upload);
  set(handle, CURLOPT_READDATA, this);
  // curl rewinds the body to resend it (a 307/308 redirect, a retry on a
  // connection the server had closed); only a buffered body can do that.
  set(handle, CURLOPT_SEEKFUNCTION, &Transfer::on_seek);
  set(handle, CURLOPT_SEEKDATA, this);
  if (method != "POST") set(handle, CURLOPT_CUSTOMREQUEST, method.c_str());
}

void Transfer::configure(CURL* handle) {
  set(handle, CURLOPT_URL, request_.url.c_str());
  set(handle, CURLOPT_PROTOCOLS_STR, kProtocols);
  set(handle, CURLOPT_ERRORBUFFER, error_buffer_.data());
  // Signals would be process-wide; without them name resolution uses
  // curl's resolver thread (or blocks) instead of SIGALRM timeouts.
  set(handle, CURLOPT_NOSIGNAL, 1L);
  set(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  set(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  set(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  if (options_.stall_timeout.count() > 0) {
    // Not CURLOPT_LOW_SPEED_*: curl averages the speed over several seconds,
    // so a stall after a burst would go unnoticed for that much longer.
    set(handle, CURLOPT_NOPROGRESS, 0L);
    set(handle, CURLOPT_XFERINFOFUNCTION, &Transfer::on_progress);
    set(handle, CURLOPT_XFERINFODATA, this);
  }
  if (options_.max_redirects > 0) {
    set(handle, CURLOPT_FOLLOWLOCATION, 1L);
    set(handle, CURLOPT_MAXREDIRS, static_cast<long>(options_.max_redirects));
    set(handle, CURLOPT_REDIR_PROTOCOLS_STR, kProtocols);
  }
  if (!options_.user_agent.empty()) set(handle, CURLOPT_USERAGENT, options_.user_agent.c_str());
  headers_ = header_list();
  set(handle, CURLOPT_HTTPHEADER, headers_.get());
  if (!options_.connect_to.empty()) {
    connect_to_ = connect_to_list();
    set(handle, CURLOPT_CONNECT_TO, connect_to_.get());
  }
  if (options_.addresses != AddressPolicy::kAny) {
    set(handle, CURLOPT_OPENSOCKETFUNCTION, &Transfer::on_open_socket);
    set(handle, CURLOPT_OPENSOCKETDATA, this);
  }
  set(handle, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  set(handle, CURLOPT_HEADERDATA, this);
  set(handle, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  set(handle, CURLOPT_WRITEDATA, this);
  // Streamed bodies (blobs) move in large pieces: with curl's defaults
  // (16 KiB down, 64 KiB up) a blob costs a system call and a callback per
  // few kilobytes. (curl_easy_reset puts the defaults back for the next
  // request on this handle.)
  if (sink_) set(handle, CURLOPT_BUFFERSIZE, kStreamBufferBytes);
  if (streams_upload()) set(handle, CURLOPT_UPLOAD_BUFFERSIZE, kStreamBufferBytes);
  configure_method(handle);
}

HttpResponse Transfer::run(CURL* handle) {
  validate();
  configure(handle);
  CURLcode rc = curl_easy_perform(handle);
  if (callback_error_) std::rethrow_exception(callback_error_);
  if (!abort_reason_.empty()) fail(abort_reason_);
  if (rc != CURLE_OK) {
    std::string reason = curl_easy_strerror(rc);
    if (error_buffer_[0] != '\0') reason += fmt::format(" ({})", error_buffer_.data());
    fail(reason);
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  response_.status = static_cast<int>(status);
  const char* effective_url = nullptr;
  curl_easy_getinfo(handle, CURLINFO_EFFECTIVE_URL, &effective_url);
  response_.effective_url = effective_url != nullptr ? effective_url : request_.url;
  return std::move(response_);
}

// Every connection, the first and each redirect's, after DNS: the address
// must pass the policy, or curl gets no socket and the request fails.
curl_socket_t Transfer::on_open_socket(void* self, curlsocktype, curl_sockaddr* address) {
  auto& transfer = *static_cast<Transfer*>(self);
  if (!address_allowed(&address->addr, transfer.options_.addresses)) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (address->family == AF_INET)
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address->addr)->sin_addr, text, sizeof text);
    else if (address->family == AF_INET6)
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address->addr)->sin6_addr, text, sizeof text);
    transfer.abort_reason_ = fmt::format("refused to connect to {}: not a public address", text);
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype, address->protocol);
}

// Returning anything but the byte count offered makes curl abort.
std::size_t Transfer::on_header(char* data, std::size_t size, std::size_t count, void* self) {
  auto& transfer = *static_cast<Transfer*>(self);
  std::size_t n = size * count;
  return transfer.guarded([&] { return transfer.take_header_line(std::string_view(data, n)) ? n : 0; }, std::size_t{0});
}

bool Transfer::take_header_line(std::string_view line) {
  // Each response (a 100 Continue, each redirect, the final one) starts with
  // a status line; only the last response's headers are kept.
  if (line.starts_with("HTTP/")) {
    response_.headers.clear();
    header_bytes_ = 0;
    response_.status = status_of(line);
    return true;
  }
  header_bytes_ += line.size();
  if (header_bytes_ > kMaxHeaderBytes) {
    abort_reason_ = fmt::format("response headers over {} bytes", kMaxHeaderBytes);
    return false;
  }
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return true;  // end of this response's headers
  if (line.front() == ' ' || line.front() == '\t') {
    // Obsolete line folding (RFC 7230 3.2.4) continues the previous value.
    if (!response_.headers.empty()) response_.headers.back().second += " " + std::string(util::trim(line));
    return true;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return true;  // not a header; curl has accepted it
  response_.headers.emplace_back(util::ascii_lower(util::trim(line.substr(0, colon))), std::string(util::trim(line.substr(colon + 1))));
  return true;
}

std::size_t Transfer::on_body(char* data, std::size_t size, std::size_t count, void* self) {
  auto& transfer = *static_cast<Transfer*>(self);
  std::size_t n = size * count;
  auto chunk = BytesView(reinterpret_cast<const std::uint8_t*>(data), n);
  return transfer.guarded([&] { return transfer.take_body(chunk) ? n : 0; }, std::size_t{0});
}

bool Transfer::take_body(BytesView chunk) {
  if (chunk.empty()) return true;
  if (sink_ && response_.status / 100 == 2) {
    if (sink_(chunk)) return true;
    abort_reason_ = "the body sink stopped the transfer";
    return false;
  }
  // Checked before appending, so the buffer never exceeds the limit.
  if (chunk.size() > options_.max_response_bytes - response_.body.size()) {
    abort_reason_ = fmt::format("response body over the {}-byte limit", options_.max_response_bytes);
    return false;
  }
  response_.body.insert(response_.body.end(), chunk.begin(), chunk.end());
  return true;
}

std::size_t Transfer::on_upload(char* buffer, std::size_t size, std::size_t count, void* self) {
  auto& transfer = *static_cast<Transfer*>(self);
  auto* out = reinterpret_cast<std::uint8_t*>(buffer);
  return transfer.guarded([&] { return transfer.produce_body(out, size * count); },
                          static_cast<std::size_t>(CURL_READFUNC_ABORT));
}

std::size_t Transfer::produce_body(std::uint8_t* buffer, std::size_t room) {
  std::uint64_t total = streams_upload() ? source_.size : body_.size();
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(room, total - sent_));
  if (want == 0) return 0;
  if (!streams_upload()) {
    std::memcpy(buffer, body_.data() + sent_, want);
    sent_ += want;
    return want;
  }
  std::size_t got = source_.read(std::span<std::uint8_t>(buffer, want));
  if (got > want) {
    abort_reason_ = fmt::format("the body source returned {} bytes when asked for {}", got, want);
    return CURL_READFUNC_ABORT;
  }
  if (got == 0) {
    abort_reason_ = fmt::format("the body source ended after {} of {} bytes", sent_, total);
    return CURL_READFUNC_ABORT;
  }
  sent_ += got;
  return got;
}

int Transfer::on_seek(void* self, curl_off_t offset, int origin) {
  auto& transfer = *static_cast<Transfer*>(self);
  if (transfer.streams_upload()) return CURL_SEEKFUNC_CANTSEEK;
  if (origin != SEEK_SET || offset < 0 || static_cast<std::uint64_t>(offset) > transfer.body_.size())
    return CURL_SEEKFUNC_FAIL;
  transfer.sent_ = static_cast<std::uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

int Transfer::on_progress(void* self, curl_off_t, curl_off_t received, curl_off_t, curl_off_t sent) {
  auto& transfer = *static_cast<Transfer*>(self);
  return transfer.guarded([&] { return transfer.check_stall(received + sent) ? 0 : 1; }, 1);  // nonzero aborts
}

bool Transfer::check_stall(curl_off_t moved) {
  auto now = std::chrono::steady_clock::now();
  if (moved != moved_) {
    moved_ = moved;
    moved_at_ = now;
    return true;
  }
  if (now - moved_at_ < options_.stall_timeout) return true;
  abort_reason_ = fmt::format("stalled: no data moved for {} ms", options_.stall_timeout.count());
  return false;
}

const BodySource kNoSource{};
const BodySink kNoSink{};

}  // namespace

struct HttpClient::Impl {
  explicit Impl(HttpOptions o) : options(std::move(o)) {}

  HttpResponse perform(const HttpRequest& request, BytesView body, const BodySource& source, const BodySink& sink,
                       const HttpOptions& opts) {
    Lease handle(pool);
    return Transfer(request, body, source, sink, opts).run(handle.get());
  }

  const HttpOptions options;
  HandlePool pool;
};

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (util::iequals_ascii(key, name)) return value;
  return "";
}

HttpClient::HttpClient(HttpOptions options) {
  init_curl_once();
  impl_ = std::make_unique<Impl>(std::move(options));
}

HttpClient::~HttpClient() = default;

const HttpOptions& HttpClient::options() const { return impl_->options; }

HttpResponse HttpClient::send(const HttpRequest& request) const { return send(request, impl_->options); }

HttpResponse HttpClient::send(const HttpRequest& request, const HttpOptions& options) const {
  return impl_->perform(request, request.body, kNoSource, kNoSink, options);
}

HttpResponse HttpClient::get(const std::string& url, const Headers& headers) const {
  return send(HttpRequest{"GET", url, headers, {}});
}

HttpResponse HttpClient::post(const std::string& url, std::string_view content_type, BytesView body,
                              const Headers& headers) const {
  HttpRequest request{"POST", url, headers, {}};
  if (!content_type.empty()) request.headers.emplace_back("Content-Type", std::string(content_type));
  // The body goes straight to the transfer; copying it into the request
  // would double the memory for large posts.
  return impl_->perform(request, body, kNoSource, kNoSink, impl_->options);
}

HttpResponse HttpClient::send_streaming(const HttpRequest& request, const BodySource& source,
                                        const BodySink& sink) const {
  return send_streaming(request, source, sink, impl_->options);
}

HttpResponse HttpClient::send_streaming(const HttpRequest& request, const BodySource& source, const BodySink& sink,
                                        const HttpOptions& options) const {
  return impl_->perform(request, request.body, source, sink, options);
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

namespace {

bool ipv4_public(std::uint32_t a, bool allow_loopback) {
  auto in = [a](std::uint32_t net, int bits) { return (a >> (32 - bits)) == (net >> (32 - bits)); };
  if (in(0x7f000000, 8)) return allow_loopback;  // 127/8
  return !(in(0x00000000, 8) ||                  // "this" network
           in(0x0a000000, 8) ||                  // 10/8
           in(0x64400000, 10) ||                 // 100.64/10 carrier-grade NAT
           in(0xa9fe0000, 16) ||                 // 169.254/16 link-local, cloud metadata
           in(0xac100000, 12) ||                 // 172.16/12
           in(0xc0000000, 24) ||                 // 192.0.0/24 protocol assignments
           in(0xc0000200, 24) ||                 // 192.0.2/24 documentation
           in(0xc0a80000, 16) ||                 // 192.168/16
           in(0xc6120000, 15) ||                 // 198.18/15 benchmarking
           in(0xc6336400, 24) ||                 // 198.51.100/24 documentation
           in(0xcb007100, 24) ||                 // 203.0.113/24 documentation
           in(0xe0000000, 4) ||                  // multicast
           in(0xf0000000, 4));                   // reserved, broadcast
}

}  // namespace

bool address_allowed(const void* address, AddressPolicy policy) {
  if (policy == AddressPolicy::kAny) return true;
  bool loopback = policy == AddressPolicy::kPublicOrLoopback;
  const auto* sa = static_cast<const sockaddr*>(address);
  if (sa->sa_family == AF_INET) {
    return ipv4_public(ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr), loopback);
  }
  if (sa->sa_family != AF_INET6) return false;
  const std::uint8_t* b = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr.s6_addr;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(b, b + 12, kMapped)) {  // ::ffff:a.b.c.d is that IPv4 address
    return ipv4_public(std::uint32_t{b[12]} << 24 | std::uint32_t{b[13]} << 16 | std::uint32_t{b[14]} << 8 | b[15],
                       loopback);
  }
  bool zero_prefix = std::all_of(b, b + 15, [](std::uint8_t x) { return x == 0; });
  if (zero_prefix && b[15] == 1) return loopback;  // ::1
  if (zero_prefix) return false;                   // ::, and the deprecated IPv4-compatible forms
  if ((b[0] & 0xfe) == 0xfc) return false;         // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;  // fe80::/10 link-local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return false;  // fec0::/10 site-local
  if (b[0] == 0xff) return false;                            // multicast
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return false;  // 2001:db8::/32 documentation
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) return false;  // 64:ff9b::/96 NAT64
  return true;
}

}  // namespace atcr::net
