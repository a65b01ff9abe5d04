// index::FirehoseConsumer: a thread per source following subscribeRepos,
// with saved cursors and reconnect backoff (contract: atcr/index/ingest.h).
#include <fmt/core.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "atcr/index/ingest.h"
#include "atcr/log.h"
#include "atcr/xrpc/websocket_client.h"
#include "index/source_url.h"

namespace atcr::index {

namespace {
// How often a waiting receive looks at the stop flag.
constexpr auto kPoll = std::chrono::milliseconds(500);

// Where to subscribe: after the saved cursor; without one, a PDS from its
// first event (it keeps its history: take all of it), a relay from now.
std::string subscription_url(const Source& source, const std::optional<std::int64_t>& cursor) {
  std::string url = subscribe_url(source.url);
  if (url.empty()) throw Error(fmt::format("'{}' is not an http(s) or ws(s) URL", source.url));
  if (cursor) {
    url += fmt::format("?cursor={}", *cursor);
  } else if (source.kind == SourceKind::kPds) {
    url += "?cursor=0";
  }
  return url;
}

// A source's cursor as events are handled: saved every `every` events
// with a seq, and when the connection ends (a failure to save then is
// ignored: the events come again).
class CursorSaver {
 public:
  CursorSaver(Index& index, const std::string& url, std::uint32_t every) : index_(index), url_(url), every_(every) {}
  ~CursorSaver() {
    try {
      save();
    } catch (...) {
    }
  }
  void handled(std::int64_t seq) {
    if (seq <= 0) return;
    last_seq_ = seq;
    if (++unsaved_ >= every_) save();
  }
  // The source was reset (FutureCursor): follow it from its beginning.
  void restart() {
    index_.set_cursor(url_, 0);
    unsaved_ = 0;
  }

 private:
  void save() {
    if (unsaved_ > 0 && last_seq_ > 0) index_.set_cursor(url_, last_seq_);
    unsaved_ = 0;
  }
  Index& index_;
  const std::string& url_;
  std::uint32_t every_;
  std::uint32_t unsaved_ = 0;
  std::int64_t last_seq_ = 0;
};
}  // namespace

struct FirehoseConsumer::Impl {
  Impl(Ingester& i, std::vector<Source> s, ConsumerOptions o) : ingester(i), sources(std::move(s)), options(o) {
    statuses.resize(sources.size());
    for (std::size_t i = 0; i < sources.size(); ++i) statuses[i].url = sources[i].url;
  }
  Ingester& ingester;
  std::vector<Source> sources;
  ConsumerOptions options;
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> events{0};

  mutable std::mutex status_mu;
  std::vector<SourceStatus> statuses;  // parallel to sources

  void update(std::size_t i, const std::function<void(SourceStatus&)>& change) {
    std::lock_guard lock(status_mu);
    change(statuses[i]);
  }

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::vector<xrpc::WebSocketClient*> open;  // connections to interrupt on stop

  bool stopped() {
    std::lock_guard lock(mu);
    return stopping;
  }

  // Sleeps `d` unless stop() comes first; false when stopping.
  bool sleep(std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    return !cv.wait_for(lock, d, [&] { return stopping; });
  }

  void run(std::size_t i) {
    const Source& source = sources[i];
    std::chrono::milliseconds backoff = options.min_backoff;
    while (!stopped()) {
      bool delivered = false;
      try {
        delivered = follow(i);
      } catch (const std::exception& e) {
        update(i, [](SourceStatus& s) { s.connected = false; });
        if (stopped()) break;
        log::warn("index", "firehose {}: {}; reconnecting in {} ms", source.url, e.what(), backoff.count());
      }
      if (delivered) backoff = options.min_backoff;
      if (!sleep(backoff)) break;
      if (!delivered) backoff = std::min(backoff * 2, options.max_backoff);
    }
  }

  // The connection is interrupted by stop() while it is open, and the
  // source shown disconnected once it is not.
  struct Registration {
    Impl* self;
    std::size_t i;
    xrpc::WebSocketClient* ws;
    ~Registration() {
      self->update(i, [](SourceStatus& s) { s.connected = false; });
      std::lock_guard lock(self->mu);
      std::erase(self->open, ws);
    }
  };

  // One connection, until it ends; whether it delivered any event.
  bool follow(std::size_t i) {
    const Source& source = sources[i];
    std::optional<std::int64_t> cursor = ingester.index().cursor(source.url);
    xrpc::WebSocketOptions ws_options;
    ws_options.idle_timeout = options.idle_timeout;
    auto ws = xrpc::WebSocketClient::connect(subscription_url(source, cursor), ws_options);
    {
      std::lock_guard lock(mu);
      if (stopping) return false;
      open.push_back(ws.get());
    }
    Registration registration{this, i, ws.get()};
    update(i, [](SourceStatus& s) { s.connected = true; });
    log::info("index", "firehose {}: connected{}", source.url, cursor ? fmt::format(" at cursor {}", *cursor) : "");

    std::string origin = source.kind == SourceKind::kPds ? origin_of(source.url) : "";
    CursorSaver saver(ingester.index(), source.url, options.cursor_every);
    bool delivered = false;
    while (true) {
      auto message = ws->receive(kPoll);
      if (!message) break;  // closed (by the peer, or stop())
      if (message->kind == xrpc::WebSocketMessage::kTimeout) {
        if (stopped()) break;
        continue;
      }
      if (message->kind != xrpc::WebSocketMessage::kBinary) continue;
      handle(i, message->data, origin, saver);
      delivered = true;
    }
    if (ws->close_code() != 0)
      log::info("index", "firehose {}: closed by the source ({})", source.url, ws->close_code());
    return delivered;
  }

  // One binary frame of source i: ingested, counted, its seq the cursor.
  void handle(std::size_t i, BytesView data, const std::string& origin, CursorSaver& saver) {
    FrameInfo frame;
    try {
      ingester.handle_frame(data, origin, frame);
    } catch (const ParseError& e) {
      throw Error(fmt::format("a malformed frame: {}", e.what()));
    } catch (const Error& e) {
      // An error frame: FutureCursor means our cursor is from another
      // life of the source (it was reset): start over from its beginning.
      if (std::string_view(e.what()).find("FutureCursor") != std::string_view::npos) {
        log::warn("index", "firehose {}: our cursor is ahead of the source; starting from its beginning",
                  sources[i].url);
        saver.restart();
      }
      throw;
    }
    events.fetch_add(1, std::memory_order_relaxed);
    update(i, [&](SourceStatus& s) {
      ++s.events;
      if (frame.seq > 0) s.seq = frame.seq;
      if (frame.time) {
        s.event_time = frame.time;
        s.handled_at = std::chrono::system_clock::now();
      }
    });
    saver.handled(frame.seq);
  }
};

FirehoseConsumer::FirehoseConsumer(Ingester& ingester, std::vector<Source> sources, ConsumerOptions options)
    : impl_(std::make_unique<Impl>(ingester, std::move(sources), options)) {
  if (impl_->options.cursor_every == 0) impl_->options.cursor_every = 1;
}

FirehoseConsumer::~FirehoseConsumer() { stop(); }

void FirehoseConsumer::start() {
  for (std::size_t i = 0; i < impl_->sources.size(); ++i) impl_->threads.emplace_back([this, i] { impl_->run(i); });
}

void FirehoseConsumer::stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    for (xrpc::WebSocketClient* ws : impl_->open) ws->interrupt();
  }
  impl_->cv.notify_all();
  for (std::thread& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

std::uint64_t FirehoseConsumer::events() const { return impl_->events.load(); }

std::vector<SourceStatus> FirehoseConsumer::status() const {
  std::lock_guard lock(impl_->status_mu);
  return impl_->statuses;
}

}  // namespace atcr::index
