#include "views/event_log_view.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "trace/event_fields.h"
#include "views/style.h"

namespace sockscope::app {

std::string conn_label(const trace::Event& e, const session::Model& model) {
  if (e.conn == 0) return {};
  if (trace::conn_is_client_id(e.kind)) {
    std::string label = "client " + std::to_string(e.conn);
    const session::ClientView* c = model.find_client(e.conn);
    if (c != nullptr && c->server_conn != 0) label += " · conn #" + std::to_string(c->server_conn);
    return label;
  }
  std::string label = "conn #" + std::to_string(e.conn);
  const session::ConnectionView* c = model.find_connection(e.conn);
  if (c != nullptr && c->client_id != 0) label += " · client " + std::to_string(c->client_id);
  return label;
}

std::string conn_tooltip(const trace::Event& e, const session::Model& model) {
  if (e.conn == 0) return {};
  const std::string server = "conn #N: the server's number for a connection it accepted (1, 2, ... in accept order).";
  const std::string client = "client N: the client simulator's number for one of its clients (in the order it started them).";
  std::string tip;
  if (trace::conn_is_client_id(e.kind)) {
    tip = "A client-side event: the number is client " + std::to_string(e.conn) + ".\n";
    const session::ClientView* c = model.find_client(e.conn);
    if (c != nullptr && c->server_conn != 0)
      tip += "The server accepted it as connection #" + std::to_string(c->server_conn) + " (joined by port).\n";
    else
      tip += "Not joined to a server connection (yet).\n";
  } else {
    tip = "A server-side event: the number is connection #" + std::to_string(e.conn) + ".\n";
    const session::ConnectionView* c = model.find_connection(e.conn);
    if (c != nullptr && c->client_id != 0)
      tip += "Simulated client " + std::to_string(c->client_id) + " made it (joined by port).\n";
    else
      tip += "No simulated client joined to it (an outside client such as curl, or not joined yet).\n";
  }
  return tip + server + "\n" + client + "\nThe two counts are separate: connection #2 need not be client 2.";
}

bool EventFilter::active() const {
  return pid != 0 || conn != 0 || std::any_of(kinds.begin(), kinds.end(), [](bool k) { return k; });
}

bool EventFilter::pass(const trace::Event& e) const {
  if (pid != 0 && static_cast<int>(e.pid) != pid) return false;
  if (conn != 0 && static_cast<int>(e.conn) != conn) return false;
  bool any_kind = std::any_of(kinds.begin(), kinds.end(), [](bool k) { return k; });
  if (!any_kind) return true;
  auto k = static_cast<std::size_t>(e.kind);
  return k < kinds.size() && kinds[k];
}

void EventLogView::refresh_index(const session::Session& s) {
  if (!filter.active()) {
    index_.clear();
    return;
  }
  if (s.generation() == indexed_generation_ && filter == indexed_filter_) return;
  const auto& events = s.events();
  // Late events are inserted in time order, not appended, so an index over a
  // grown store is only reusable when nothing moved: rebuild otherwise.
  index_.clear();
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (filter.pass(events[i])) index_.push_back(static_cast<std::uint32_t>(i));
  }
  indexed_generation_ = s.generation();
  indexed_size_ = events.size();
  indexed_filter_ = filter;
}

namespace {
// The values column's width: the widest any kind's row can be with ten-digit
// numbers in both fields, so that no row is ever cut off at the column's edge.
float widest_values_width() {
  float widest = 0.0f;
  for (std::size_t k = 0; k < static_cast<std::size_t>(trace::Kind::count_); ++k) {
    trace::Event e;
    e.kind = static_cast<trace::Kind>(k);
    e.a = e.kind == trace::Kind::gate_wait || e.kind == trace::Kind::gate_pass
              ? static_cast<std::int64_t>(trace::GateKind::counter_write)
              : 4'294'967'295;
    e.b = 4'294'967'295;
    widest = std::max(widest, ImGui::CalcTextSize(trace::describe_fields(e).c_str()).x);
  }
  return widest;
}
}  // namespace

std::string row_tooltip(const trace::Event& e) {
  const trace::KindFields& k = trace::kind_fields(e.kind);
  std::string tip = std::string(trace::kind_name(e.kind)) + ": " + std::string(k.explanation);
  auto field = [&](const char* which, const trace::EventField& f, std::int64_t v) {
    if (!f.used()) return;
    tip += "\n" + std::string(which) + " = " + std::string(f.name) + ": " + trace::format_field_value(f, v);
    if (f.format != trace::FieldFormat::number) tip += " (raw " + std::to_string(v) + ")";
  };
  field("a", k.a, e.a);
  field("b", k.b, e.b);
  return tip;
}

void EventLogView::draw(FrameContext& ctx) {
  const auto& events = ctx.session.events();
  refresh_index(ctx.session);
  const bool filtered = filter.active();
  const std::size_t rows = filtered ? index_.size() : events.size();
  rows_shown_ = rows;

  char title[96];
  std::snprintf(title, sizeof title, "Event log: %zu of %zu###event_log", rows, events.size());
  if (ImGui::Begin(title)) {
    // Kind filter: a combo holding one checkbox per kind.
    int chosen = static_cast<int>(std::count(filter.kinds.begin(), filter.kinds.end(), true));
    std::string preview = chosen == 0 ? "all kinds" : std::to_string(chosen) + " kinds";
    // Labels before their fields: a row of "field label field label" reads wrong.
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("kind");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 9.0f);
    if (ImGui::BeginCombo("##kind", preview.c_str())) {
      if (ImGui::Selectable("all kinds")) filter.kinds.fill(false);
      for (std::size_t k = 0; k < filter.kinds.size(); ++k) {
        std::string name(trace::kind_name(static_cast<trace::Kind>(k)));
        ImGui::Checkbox(name.c_str(), &filter.kinds[k]);
      }
      ImGui::EndCombo();
    }
    // Each "label field" pair stays together and goes to the next line when
    // it would not fit: in a narrow window a field cut off at the right edge
    // is a field nobody finds.
    const float gap = ImGui::GetStyle().ItemSpacing.x;
    const float frame = ImGui::GetStyle().FramePadding.x * 2.0f;
    auto labelled = [&](const char* label, const char* id, int& value, float width) {
      style::same_line_if_fits(ImGui::CalcTextSize(label).x + gap + width);
      ImGui::TextUnformatted(label);
      ImGui::SameLine();
      ImGui::SetNextItemWidth(width);
      ImGui::InputInt(id, &value, 0);
      value = std::max(value, 0);
    };
    labelled("pid", "##pid", filter.pid, ImGui::GetFontSize() * 5.0f);
    labelled("conn", "##conn", filter.conn, ImGui::GetFontSize() * 3.5f);
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("Server connection number (conn #N); on client_* events, the client's number");
    style::same_line_if_fits(ImGui::CalcTextSize("Clear").x + frame);
    if (ImGui::Button("Clear")) filter = EventFilter{};
    style::same_line_if_fits(ImGui::CalcTextSize("Follow").x + frame + ImGui::GetFrameHeight());
    ImGui::Checkbox("Follow", &follow);

    const std::uint64_t t0 = ctx.session.meta().start_ns != 0 ? ctx.session.meta().start_ns : ctx.session.first_ns();
    // Every column fixed at the width of its widest possible content, and
    // the table scrolls sideways when the window is narrower: a number cut
    // off at a column's edge reads as a different number. The widths are in
    // the table's id, so a new font size sizes them afresh.
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                                  ImGuiTableFlags_ScrollX | ImGuiTableFlags_SizingFixedFit |
                                  ImGuiTableFlags_Resizable | ImGuiTableFlags_Reorderable |
                                  ImGuiTableFlags_Hideable;
    style::MonoFont mono;
    struct Column {
      const char* name;
      const char* widest;  // the widest content it shows
      const char* tip;
    };
    // What happened first (time, kind, its numbers, its text), then who:
    // a narrow window shows the meaning without scrolling sideways.
    enum Col { kTime, kKind, kValues, kText, kConn, kPid, kTid };
    static constexpr Column kColumns[] = {
        {"time s", "-99999.9999", "Seconds since the run started."},
        {"kind", "reactor_register", "What happened. Hover a row's kind or values for what it means."},
        {"values", nullptr,
         "The event's two numbers, named for its kind (fields the kind does not use are left out).\n"
         "Hover a row for what each one means."},
        {"text", "MMMMMMMMMMMMMMMMMMMMMMMM", "The event's short text: a verb, a path, a gate, a thread name."},
        {"conn", "client 9999 · conn #9999",
         "Server events: conn #N, the server's number for the connection (accept order).\n"
         "Client events (client_*): client N, the simulator's number for its client.\n"
         "Joined by port when the session knows both: \"conn #2 · client 3\"."},
        {"pid", "4194304", "The process that recorded the event."},
        {"tid", "4194304", "The thread that recorded it (the pid for a process's main thread)."},
    };
    constexpr int kColumnCount = static_cast<int>(sizeof kColumns / sizeof kColumns[0]);
    const std::string table_id = "##events@" + std::to_string(static_cast<int>(ImGui::GetFontSize()));
    // At least a few rows tall: in a short window the window scrolls to the
    // table rather than the table shrinking to its header.
    const float row_h = ImGui::GetTextLineHeightWithSpacing() + ImGui::GetStyle().CellPadding.y * 2.0f;
    const float height = std::max(ImGui::GetContentRegionAvail().y, 5.0f * row_h + ImGui::GetStyle().ScrollbarSize);
    if (ImGui::BeginTable(table_id.c_str(), kColumnCount, flags, ImVec2(0.0f, height))) {
      ImGui::TableSetupScrollFreeze(0, 1);
      for (const Column& c : kColumns)
        ImGui::TableSetupColumn(c.name, ImGuiTableColumnFlags_WidthFixed,
                                c.widest ? ImGui::CalcTextSize(c.widest).x : widest_values_width());
      // The header row by hand, for a tooltip on each header.
      ImGui::TableNextRow(ImGuiTableRowFlags_Headers);
      for (int c = 0; c < kColumnCount; ++c) {
        if (!ImGui::TableSetColumnIndex(c)) continue;
        ImGui::TableHeader(kColumns[c].name);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", kColumns[c].tip);
      }
      ImGuiListClipper clipper;
      clipper.Begin(static_cast<int>(rows));
      while (clipper.Step()) {
        for (int r = clipper.DisplayStart; r < clipper.DisplayEnd; ++r) {
          std::size_t i = filtered ? index_[static_cast<std::size_t>(r)] : static_cast<std::size_t>(r);
          const trace::Event& e = events[i];
          ImGui::PushID(static_cast<int>(i));
          ImGui::TableNextRow();
          ImGui::TableSetColumnIndex(kTime);
          double t = e.ts_ns >= t0 ? static_cast<double>(e.ts_ns - t0) / 1e9
                                   : -static_cast<double>(t0 - e.ts_ns) / 1e9;
          ImGui::Text("%9.4f", t);
          ImGui::TableSetColumnIndex(kKind);
          std::string kind(trace::kind_name(e.kind));
          bool bad = e.kind == trace::Kind::error || e.kind == trace::Kind::client_error ||
                     e.kind == trace::Kind::refuse || e.kind == trace::Kind::timeout;
          if (bad) {
            style::text_colored(style::palette().bad, "%s", kind.c_str());
          } else {
            ImGui::TextUnformatted(kind.c_str());
          }
          // The kind's meaning and the values by name: in a narrow window the
          // values column may be scrolled out of sight.
          if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", row_tooltip(e).c_str());
          ImGui::TableSetColumnIndex(kValues);
          const std::string values = trace::describe_fields(e);
          ImGui::TextUnformatted(values.c_str());
          if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", row_tooltip(e).c_str());
          ImGui::TableSetColumnIndex(kText);
          std::string text(e.text_view());
          ImGui::TextUnformatted(text.c_str());
          ImGui::TableSetColumnIndex(kConn);
          if (e.conn != 0) {
            ImGui::TextUnformatted(conn_label(e, ctx.model).c_str());
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", conn_tooltip(e, ctx.model).c_str());
          }
          ImGui::TableSetColumnIndex(kPid);
          ImGui::Text("%u", e.pid);
          ImGui::TableSetColumnIndex(kTid);
          ImGui::Text("%u", e.tid);
          ImGui::PopID();
        }
      }
      if (follow && ImGui::GetScrollY() >= ImGui::GetScrollMaxY() - ImGui::GetFontSize() * 3.0f) {
        ImGui::SetScrollHereY(1.0f);
      }
      ImGui::EndTable();
    }
  }
  ImGui::End();
}

}  // namespace sockscope::app
