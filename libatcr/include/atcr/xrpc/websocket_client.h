// A WebSocket client (RFC 6455) for XRPC subscriptions and other event
// streams: com.atproto.sync.subscribeRepos from a relay or PDS, a hold's
// firehose, a scanner's job stream.
//
//   WebSocketOptions options;
//   options.headers = {{"Authorization", "Bearer " + token}};
//   auto ws = WebSocketClient::connect(
//       "wss://relay.example/xrpc/com.atproto.sync.subscribeRepos?cursor=42", options);
//   while (auto message = ws->receive(std::chrono::seconds(1))) {
//     if (message->kind == WebSocketMessage::kTimeout) { if (stopping) break; continue; }
//     handle(message->data);
//   }
//   // receive() returned nullopt: the peer closed; ws->close_code() says how.
//
// URLs are ws:// and wss:// (http:// and https:// are taken as their
// WebSocket equivalents, as the XRPC base URLs of services are written).
// wss verifies the server's certificate chain against the system's CAs (or
// WebSocketOptions::ca_file) and its host name; there is no way to turn
// that off.
//
// Limits: every step of connecting (DNS, TCP, TLS, the upgrade) is bounded
// by connect_timeout; each write by write_timeout; a message over
// max_message_bytes fails the connection (the client closes with 1009)
// instead of being buffered. A connection on which nothing at all arrives
// for idle_timeout is pinged halfway through and dropped if the ping is not
// answered, so a dead peer is noticed even on a quiet stream. Pings from
// the peer are answered automatically.
//
// Errors: connect() throws net::HttpError for a bad URL, DNS, connect or TLS
// failure, a timeout, or a refused upgrade (the message names the URL
// without credentials and the HTTP status the server answered);
// receive()/send_*() throw net::HttpError when the connection breaks, times
// out or the peer violates the protocol. A clean close from the peer is not
// an error: receive() returns nullopt.
//
// Threads: one thread uses a client (receive, send, ping, close); interrupt()
// alone may be called from any thread, to make that thread's blocked call
// return promptly (a consumer's stop()).
//
// Boost stays out of this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/bytes.h"
#include "atcr/net/http_client.h"

namespace atcr::xrpc {

struct WebSocketOptions {
  // Sent with the upgrade request (Authorization, User-Agent, ...). Host,
  // Upgrade, Connection and Sec-WebSocket-* are the client's own.
  net::Headers headers;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds write_timeout{30000};
  // Silence after which the peer is considered gone (pinged at half).
  std::chrono::milliseconds idle_timeout{60000};
  // Largest message accepted (atproto event-stream frames are at most 5 MiB).
  std::size_t max_message_bytes = 5 * 1024 * 1024;
  // PEM bundle to verify wss:// servers against instead of the system CAs.
  std::string ca_file;
};

struct WebSocketMessage {
  enum Kind { kBinary, kText, kTimeout };
  Kind kind = kBinary;
  Bytes data;  // the whole message; empty for kTimeout
  std::string_view text() const { return {reinterpret_cast<const char*>(data.data()), data.size()}; }
};

class WebSocketClient {
 public:
  // Connects and completes the upgrade; throws net::HttpError (see above).
  static std::unique_ptr<WebSocketClient> connect(std::string_view url, const WebSocketOptions& options = {});

  virtual ~WebSocketClient() = default;

  // The next data message. Waits at most `wait` (then answers kTimeout and
  // the connection stays usable; nothing is lost), or without a bound for
  // nullopt `wait` (idle_timeout still applies). nullopt once the peer has
  // closed cleanly or interrupt() was called; net::HttpError if the
  // connection failed.
  virtual std::optional<WebSocketMessage> receive(
      std::optional<std::chrono::milliseconds> wait = std::nullopt) = 0;

  // Each sends one message (within write_timeout); net::HttpError on failure.
  virtual void send_binary(BytesView message) = 0;
  virtual void send_text(std::string_view message) = 0;
  // A ping; its pong is consumed by the next receive().
  virtual void ping() = 0;

  // The closing handshake (1000 normal, 1001 going away, ...), bounded by
  // write_timeout; the socket is closed afterwards. Never throws. Closing a
  // closed client does nothing.
  virtual void close(std::uint16_t code = 1000, std::string_view reason = {}) = 0;

  // Any thread: makes a blocked (or the next) receive/send/ping return at
  // once (receive: nullopt; send: net::HttpError) and drops the connection.
  virtual void interrupt() = 0;

  // What the peer's close frame said, once it closed (0 before, or when the
  // connection broke without one).
  virtual std::uint16_t close_code() const = 0;
  virtual std::string close_reason() const = 0;
};

}  // namespace atcr::xrpc
