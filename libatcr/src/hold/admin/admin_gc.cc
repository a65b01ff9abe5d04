// The admin panel's garbage collection page (see admin_panel.h): a
// preview (a dry run: what would go now, and why), a run, and the last
// runs from the hold's GC history (data_dir/gc.sqlite). Both buttons are
// POST forms with the CSRF token: a collection is expensive, and a run
// deletes.
#include <fmt/core.h>

#include "atcr/log.h"
#include "atcr/repo/storage.h"
#include "hold/admin/admin_panel.h"

namespace atcr::hold {

namespace {

using web::html_escape;

constexpr std::size_t kItemsShown = 200;  // per report on a page; the report keeps up to 1000

std::string gc_forms(const std::string& csrf) {
  return fmt::format(
      R"(<form method="post" action="/admin/gc/preview">{0})"
      R"(<button id="gc-preview">Preview</button></form> )"
      R"(<form method="post" action="/admin/gc/run">{0})"
      R"(<button id="gc-run">Run garbage collection now</button></form>)",
      csrf);
}

// What a report reclaimed (or would), one row per item, and its warnings.
std::string items_html(const GcReport& r, std::string_view id) {
  std::string rows;
  for (std::size_t i = 0; i < r.items.size() && i < kItemsShown; ++i) {
    const GcItem& item = r.items[i];
    rows += fmt::format(R"(<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>)", html_escape(item.kind),
                        html_escape(item.target), format_size(item.bytes), html_escape(item.reason));
  }
  std::string html;
  if (rows.empty()) {
    html = fmt::format(R"(<p id="{}">Nothing to reclaim.</p>)", id);
  } else {
    html = fmt::format(R"(<table id="{}"><tr><th>Kind</th><th>What</th><th>Size</th><th>Why</th></tr>{}</table>)", id,
                       rows);
    if (r.items.size() > kItemsShown)
      html += fmt::format("<p>... and {} more (atcr-hold gc --dry-run lists them all).</p>", r.items.size() - kItemsShown);
  }
  for (const std::string& w : r.warnings) html += fmt::format(R"(<p class="error">{}</p>)", html_escape(w));
  return html;
}

std::string counts_text(const GcReport& r) {
  return fmt::format("{} blob(s) scanned, {} referenced, {} waiting out the grace period; {} {} blob(s) ({}), "
                     "{} layer record(s), {} abandoned upload(s), {} repo block(s).",
                     r.blobs_scanned, r.blobs_referenced, r.blobs_waiting, r.dry_run ? "would delete" : "deleted",
                     r.blobs_deleted, format_size(r.bytes_freed), r.layer_records_deleted, r.uploads_removed,
                     r.repo_blocks_removed);
}

std::string history_html(const std::vector<GcReport>& runs) {
  if (runs.empty()) return R"(<p id="gc-runs">No collection has run yet.</p>)";
  std::string rows;
  for (const GcReport& r : runs) {
    rows += fmt::format(
        R"(<tr class="{kind}"><td>{started}</td><td>{kind}</td><td>{scanned}</td><td>{deleted}</td><td>{freed}</td>)"
        R"(<td>{records}</td><td>{uploads}</td><td>{warnings}</td></tr>)",
        fmt::arg("started", html_escape(r.started_at)), fmt::arg("kind", r.dry_run ? "preview" : "run"),
        fmt::arg("scanned", r.blobs_scanned), fmt::arg("deleted", r.blobs_deleted),
        fmt::arg("freed", format_size(r.bytes_freed)), fmt::arg("records", r.layer_records_deleted),
        fmt::arg("uploads", r.uploads_removed), fmt::arg("warnings", r.warnings.size()));
  }
  std::string html = fmt::format(
      R"(<table id="gc-runs"><tr><th>Started</th><th>Kind</th><th>Blobs scanned</th><th>Blobs deleted</th>)"
      R"(<th>Freed</th><th>Layer records</th><th>Uploads</th><th>Warnings</th></tr>{}</table>)",
      rows);
  // What the newest real run reclaimed.
  for (const GcReport& r : runs) {
    if (r.dry_run) continue;
    html += fmt::format(R"(<h3>Last run, {}</h3><p id="gc-last">{}</p>{})", html_escape(r.started_at), counts_text(r),
                        items_html(r, "gc-last-items"));
    break;
  }
  return html;
}

std::string gc_intro(const HoldConfig& config) {
  return fmt::format(
      "<p>A blob goes only when no layer record, no manifest in any user's PDS and no upload in flight refers to "
      "it, and it has been unreferenced for longer than the grace period ({} s). Scheduled runs: {}.</p>",
      config.gc.grace_period.count(),
      config.gc.enabled ? fmt::format("every {} s", config.gc.interval.count()) : std::string("off (gc.enabled)"));
}

}  // namespace

xrpc::ServerResponse AdminPanel::gc_page(const xrpc::ServerRequest& req, const web::WebUser& user) {
  std::string body = done_notice(req) + gc_intro(hold_.config) + gc_forms(sessions_.csrf_field(user)) + "<h2>Last runs</h2>" +
                     history_html(hold_.gc_state->history());
  return sessions_.page(user, "Garbage collection", body);
}

xrpc::ServerResponse AdminPanel::gc_preview(const xrpc::ServerRequest&, const web::WebUser& user) {
  GcReport report;
  try {
    report = hold_.collect(true);
  } catch (const ConflictError&) {
    return sessions_.error_page(user, 409, "Busy", "A garbage collection is running; preview again when it is done.");
  }
  std::string body = fmt::format(R"(<p id="gc-summary">Preview: {}</p>{}{}<h2>Would go now</h2>{})",
                                 counts_text(report), gc_intro(hold_.config), gc_forms(sessions_.csrf_field(user)),
                                 items_html(report, "gc-items"));
  return sessions_.page(user, "Garbage collection: preview", body);
}

xrpc::ServerResponse AdminPanel::gc_run(const xrpc::ServerRequest&, const web::WebUser& user) {
  GcReport report;
  try {
    report = hold_.collect(false);
  } catch (const ConflictError&) {
    return sessions_.error_page(user, 409, "Busy", "A garbage collection is running already; see its result below soon.");
  }
  log::info("hold-admin", "{} ran a garbage collection: {} blobs, {} bytes freed", user.did, report.blobs_deleted,
            report.bytes_freed);
  std::string done = fmt::format("Collected: {} blob(s) deleted, {} freed, {} layer record(s) removed.",
                                 report.blobs_deleted, format_size(report.bytes_freed), report.layer_records_deleted);
  return web::redirect(fmt::format("/admin/gc?done={}", net::url_encode(done)));
}

}  // namespace atcr::hold
