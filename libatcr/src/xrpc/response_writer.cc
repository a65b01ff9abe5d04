// Response serialisation on Beast. Bodies go out through a buffer_body
// serializer, which frames whatever it is handed (Content-Length or chunked)
// without copying: the buffered body is written straight from
// ServerResponse::body, streamed pieces straight from the handler's buffers.
// A file body goes from the page cache to the socket with sendfile(2), so
// its bytes are never copied through this process.
#include "xrpc/response_writer.h"
#include "util/text.h"

#include <fmt/core.h>
#include <sys/sendfile.h>

#include <algorithm>
#include <boost/beast/core/file.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace atcr::xrpc {

namespace http = beast::http;

namespace {

// Pieces of a file response are read this large.
constexpr std::size_t kFileChunk = 256 * 1024;

// Framing fields are the transport's: a handler's copy would contradict
// the body actually sent.
bool is_framing_field(std::string_view name) {
  return util::iequals_ascii(name, "content-length") || util::iequals_ascii(name, "transfer-encoding") ||
         util::iequals_ascii(name, "connection");
}

std::optional<std::string> handler_content_length(const ServerResponse& res) {
  for (const auto& [name, value] : res.headers)
    if (util::iequals_ascii(name, "content-length")) return value;
  return std::nullopt;
}

template <class Body>
void fill_header(http::response<Body>& msg, const ServerResponse& res,
                 const ResponseFraming& framing) {
  msg.result(static_cast<unsigned>(res.status));
  msg.version(framing.version);
  for (const auto& [name, value] : res.headers)
    if (!is_framing_field(name)) msg.insert(name, value);
  if (!res.content_type.empty()) msg.set(http::field::content_type, res.content_type);
  msg.keep_alive(framing.keep_alive);
}

// The size the body has, or would have had for HEAD; nullopt when it is
// only known by sending it (a stream without a length).
std::optional<std::uint64_t> body_length(const ServerResponse& res) {
  if (res.stream || !res.file_path.empty()) return res.stream_length;
  return res.body.size();
}

// Sends a header and no body: HEAD, 1xx, 204 and 304.
bool write_header_only(SyncStream& io, const ServerOptions& options, const ServerResponse& res,
                       const ResponseFraming& framing) {
  http::response<http::empty_body> msg;
  fill_header(msg, res, framing);
  bool bodiless_status = res.status < 200 || res.status == 204 || res.status == 304;
  if (framing.head && !bodiless_status) {
    std::optional<std::uint64_t> length = body_length(res);
    std::optional<std::string> declared = handler_content_length(res);
    // A handler answering HEAD with an empty body may state the size
    // itself (e.g. a blob's, without reading it).
    if (declared && res.body.empty() && !res.stream && res.file_path.empty())
      msg.set(http::field::content_length, *declared);
    else if (length)
      msg.content_length(*length);
  }
  error_code ec = io.run(options.write_timeout, [&](auto handler) {
    http::async_write(io.stream(), msg, handler);
  });
  return !ec;
}

bool write_buffered(SyncStream& io, const ServerOptions& options, const ServerResponse& res,
                    const ResponseFraming& framing) {
  if (res.body.empty()) {
    http::response<http::empty_body> msg;
    fill_header(msg, res, framing);
    msg.content_length(0);
    return !io.run(options.write_timeout, [&](auto handler) {
      http::async_write(io.stream(), msg, handler);
    });
  }
  http::response<http::buffer_body> msg;
  fill_header(msg, res, framing);
  msg.content_length(res.body.size());
  msg.body().data = const_cast<char*>(res.body.data());  // buffer_body only reads it
  msg.body().size = res.body.size();
  msg.body().more = false;
  error_code ec = io.run(options.write_timeout, [&](auto handler) {
    http::async_write(io.stream(), msg, handler);
  });
  return !ec;
}

// Writes a body produced piece by piece through `produce(write)`.
class PieceWriter {
 public:
  PieceWriter(SyncStream& io, const ServerOptions& options, const ServerResponse& res,
              const ResponseFraming& framing)
      : io_(io), options_(options), length_(body_length(res)), serializer_(msg_) {
    fill_header(msg_, res, framing);
    if (length_)
      msg_.content_length(*length_);
    else if (framing.version >= 11)
      msg_.chunked(true);
    // An HTTP/1.0 client without a length reads until the connection
    // closes, which the caller then does (1.0 never keeps alive here).
  }

  bool write_header(std::string& internal_error) {
    error_code ec = io_.run(options_.write_timeout, [&](auto handler) {
      http::async_write_header(io_.stream(), serializer_, handler);
    });
    if (ec) fail(fmt::format("writing the response header: {}", ec.message()), internal_error);
    return !failed_;
  }

  // The writer handed to a stream callback.
  bool write(BytesView piece, std::string& internal_error) {
    if (failed_) return false;
    if (piece.empty()) return true;
    if (length_ && written_ + piece.size() > *length_) {
      fail(fmt::format("streamed response exceeds its declared length of {} bytes", *length_),
           internal_error);
      return false;
    }
    send(piece.data(), piece.size(), true, internal_error);
    if (!failed_) written_ += piece.size();
    return !failed_;
  }

  // Ends the body; false if it is incomplete or the write failed.
  bool finish(std::string& internal_error) {
    if (failed_) return false;
    if (length_ && written_ != *length_) {
      fail(fmt::format("streamed response ended after {} of its {} bytes", written_, *length_),
           internal_error);
      return false;
    }
    send(nullptr, 0, false, internal_error);
    return !failed_;
  }

  void fail(std::string why, std::string& internal_error) {
    failed_ = true;
    if (internal_error.empty()) internal_error = std::move(why);
  }

 private:
  void send(const std::uint8_t* data, std::size_t size, bool more, std::string& internal_error) {
    msg_.body().data = const_cast<std::uint8_t*>(data);  // buffer_body only reads it
    msg_.body().size = size;
    msg_.body().more = more;
    error_code ec = io_.run(options_.write_timeout, [&](auto handler) {
      http::async_write(io_.stream(), serializer_, handler);
    });
    // need_buffer: the serializer has sent all it was given and wants more.
    if (ec && ec != http::error::need_buffer)
      fail(fmt::format("writing the response body: {}", ec.message()), internal_error);
  }

  SyncStream& io_;
  const ServerOptions& options_;
  std::optional<std::uint64_t> length_;
  std::uint64_t written_ = 0;
  bool failed_ = false;
  http::response<http::buffer_body> msg_;
  http::response_serializer<http::buffer_body> serializer_;
};

bool write_streamed(SyncStream& io, const ServerOptions& options, const ServerResponse& res,
                    const ResponseFraming& framing, std::string& internal_error) {
  PieceWriter writer(io, options, res, framing);
  if (!writer.write_header(internal_error)) return false;
  std::function<bool(BytesView)> write = [&](BytesView piece) {
    return writer.write(piece, internal_error);
  };
  try {
    res.stream(write);
  } catch (const std::exception& e) {
    writer.fail(fmt::format("response stream failed: {}", e.what()), internal_error);
  } catch (...) {
    writer.fail("response stream failed with an exception of unknown type", internal_error);
  }
  return writer.finish(internal_error);
}

// The file body, read in pieces and written through `writer` (where
// sendfile cannot be used).
bool copy_file_body(const ServerResponse& res, beast::file& file, PieceWriter& writer, std::string& internal_error) {
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(
      std::min<std::uint64_t>(kFileChunk, std::max<std::uint64_t>(*res.stream_length, 1))));
  std::uint64_t left = *res.stream_length;
  while (left > 0) {
    error_code ec;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
    std::size_t n = file.read(buffer.data(), want, ec);
    if (ec || n == 0) {
      writer.fail(fmt::format("reading {}: {}", res.file_path,
                              ec ? ec.message() : "file shorter than the response"),
                  internal_error);
      return false;
    }
    if (!writer.write(BytesView(buffer.data(), n), internal_error)) return false;
    left -= n;
  }
  return writer.finish(internal_error);
}

// Outcome of sending a file body with sendfile(2).
enum class SendfileResult { kDone, kFailed, kUnsupported };

// Sends the file region straight from the page cache to the socket. The
// socket is non-blocking (asio makes it so): when its buffer is full we
// wait until it is writable, at most write_timeout each time.
// kUnsupported (nothing sent) when the file system cannot sendfile.
SendfileResult sendfile_body(SyncStream& io, const ServerOptions& options, const ServerResponse& res,
                             beast::file& file, std::string& internal_error) {
  auto& socket = io.stream().socket();
  error_code ec;
  socket.native_non_blocking(true, ec);
  if (ec) return SendfileResult::kUnsupported;
  const int out = socket.native_handle();
  const int in = file.native_handle();
  off_t offset = static_cast<off_t>(res.file_offset);
  std::uint64_t left = *res.stream_length;
  // Linux sends at most 0x7ffff000 bytes per call.
  constexpr std::uint64_t kMaxPerCall = 0x7ffff000;
  while (left > 0) {
    ssize_t n = ::sendfile(out, in, &offset, static_cast<std::size_t>(std::min(left, kMaxPerCall)));
    if (n > 0) {
      left -= static_cast<std::uint64_t>(n);
      continue;
    }
    if (n == 0) {
      internal_error = fmt::format("reading {}: file shorter than the response", res.file_path);
      return SendfileResult::kFailed;
    }
    if (errno == EINTR) continue;
    if ((errno == EINVAL || errno == ENOSYS) && left == *res.stream_length) return SendfileResult::kUnsupported;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      internal_error = fmt::format("sending {}: {}", res.file_path, std::strerror(errno));
      return SendfileResult::kFailed;
    }
    if (error_code wait = io.wait_writable(options.write_timeout)) {
      internal_error = fmt::format("writing the response body: {}", wait.message());
      return SendfileResult::kFailed;
    }
  }
  return SendfileResult::kDone;
}

bool write_file(SyncStream& io, const ServerOptions& options, const ServerResponse& res,
                beast::file& file, const ResponseFraming& framing, std::string& internal_error) {
  PieceWriter writer(io, options, res, framing);
  if (!writer.write_header(internal_error)) return false;
  // The header went through the serializer with the body's Content-Length;
  // the body follows on the socket itself.
  switch (sendfile_body(io, options, res, file, internal_error)) {
    case SendfileResult::kDone:
      return true;
    case SendfileResult::kFailed:
      return false;
    case SendfileResult::kUnsupported:
      break;
  }
  return copy_file_body(res, file, writer, internal_error);
}

void replace_with_internal_error(ServerResponse& res) {
  res = ServerResponse::error(500, "InternalServerError", "Internal Server Error");
}

// A CR or LF in a field would let whatever put it there (a decoded path
// parameter echoed in a Location, say) write fields or a response of its
// own; NUL is not allowed either.
bool is_clean_field(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace

bool write_response(SyncStream& io, const ServerOptions& options, ServerResponse& res,
                    const ResponseFraming& framing, std::string& internal_error) {
  if (res.status < 100 || res.status > 599) {
    internal_error = fmt::format("handler answered with HTTP status {}", res.status);
    replace_with_internal_error(res);
  }
  for (const auto& [name, value] : res.headers) {
    if (name.empty() || !is_clean_field(name) || !is_clean_field(value)) {
      internal_error = fmt::format("handler set header \"{}\" with a control character or no name",
                                   name);
      replace_with_internal_error(res);
      break;
    }
  }
  if (!is_clean_field(res.content_type)) {
    internal_error = "handler set a content type with a control character";
    replace_with_internal_error(res);
  }
  // Open the file before committing to a status, so a missing one is a 500
  // rather than a 200 with a truncated body.
  beast::file file;
  if (!res.file_path.empty()) {
    error_code ec;
    file.open(res.file_path.c_str(), beast::file_mode::read, ec);
    if (!ec) file.seek(res.file_offset, ec);
    if (ec) {
      internal_error = fmt::format("opening {}: {}", res.file_path, ec.message());
      replace_with_internal_error(res);
    }
  }

  bool bodiless_status = res.status < 200 || res.status == 204 || res.status == 304;
  if (framing.head || bodiless_status) return write_header_only(io, options, res, framing);
  if (!res.file_path.empty()) return write_file(io, options, res, file, framing, internal_error);
  if (res.stream) return write_streamed(io, options, res, framing, internal_error);
  return write_buffered(io, options, res, framing);
}

}  // namespace atcr::xrpc
