// The event log's named values (issue 13 item 7): the table of what `a` and
// `b` mean per Kind (engine/trace/event_fields.h), checked against the emit()
// calls in the sources that fill them, and the log drawn headless at
// 1280x720 with a 24 px font, every column wide enough for what it shows.
#include <gtest/gtest.h>

#include "gui/headless_imgui.h"
#include <imgui.h>
#include <imgui_internal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fonts.h"
#include "session/session.h"
#include "support/events.h"
#include "trace/event_fields.h"
#include "views/event_log_view.h"

namespace sockscope {
namespace {

using trace::Kind;

constexpr std::size_t kKinds = static_cast<std::size_t>(Kind::count_);

TEST(EventFields, EveryKindHasASentenceAndItsRowInOrder) {
  for (std::size_t i = 0; i < kKinds; ++i) {
    const auto k = static_cast<Kind>(i);
    const trace::KindFields& f = trace::kind_fields(k);
    EXPECT_EQ(f.kind, k) << trace::kind_name(k);
    const std::string_view why = trace::kind_explanation(k);
    EXPECT_GE(why.size(), 20u) << trace::kind_name(k) << ": a sentence of explanation";
    EXPECT_TRUE(why.ends_with(".")) << trace::kind_name(k) << ": " << why;
    // A b with no a would read oddly ("b 3" alone): every kind uses a first.
    if (f.b.used()) {
      EXPECT_TRUE(f.a.used()) << trace::kind_name(k);
    }
    EXPECT_EQ(trace::field_names(k).a, f.a.name);
    EXPECT_EQ(trace::field_names(k).b, f.b.name);
  }
}

// One emit() call found in the sources: which kind, which of a and b it sets.
struct Emitter {
  std::string where;
  bool sets_a = false;
  bool sets_b = false;
};

// The arguments of the call whose '(' is at `open`, split at top-level commas.
std::vector<std::string> call_arguments(const std::string& text, std::size_t open) {
  std::vector<std::string> args;
  std::string cur;
  int depth = 0;
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {  // a string literal: copy through its end
      std::size_t end = i + 1;
      while (end < text.size() && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
      cur += text.substr(i, end - i + 1);
      i = end;
      continue;
    }
    if (c == '(' || c == '{' || c == '[') ++depth;
    if (c == ')' || c == '}' || c == ']') {
      if (depth == 0) {
        args.push_back(cur);
        break;
      }
      --depth;
    }
    if (c == ',' && depth == 0) {
      args.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  for (auto& a : args) {
    a.erase(0, a.find_first_not_of(" \n\t"));
    a.erase(a.find_last_not_of(" \n\t") + 1);
  }
  return args;
}

std::map<Kind, std::vector<Emitter>> emitters_in_sources() {
  std::map<Kind, std::vector<Emitter>> out;
  const std::filesystem::path engine = std::filesystem::path(SOCKSCOPE_SOURCE_DIR) / "engine";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(engine)) {
    const auto ext = entry.path().extension();
    if (ext != ".cpp" && ext != ".h") continue;
    std::ifstream in(entry.path());
    std::string text, line;
    // Comments out, lines joined: a call may span lines.
    while (std::getline(in, line)) {
      if (auto c = line.find("//"); c != std::string::npos) line.erase(c);
      text += line + "\n";
    }
    for (std::size_t at = text.find("emit("); at != std::string::npos; at = text.find("emit(", at + 1)) {
      const std::size_t open = at + 4;
      auto args = call_arguments(text, open);
      if (args.empty()) continue;
      std::string kind = args[0];
      if (kind.rfind("trace::", 0) == 0) kind.erase(0, 7);
      if (kind.rfind("Kind::", 0) != 0) continue;  // a declaration, or emit(kind, ...) passing one on
      Kind k;
      if (!trace::kind_from_name(kind.substr(6), k)) {
        ADD_FAILURE() << entry.path().filename() << ": unknown kind " << kind;
        continue;
      }
      Emitter e;
      e.where = entry.path().filename().string() + ":" + std::to_string(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n') + 1);
      e.sets_a = args.size() > 2 && args[2] != "0";
      e.sets_b = args.size() > 3 && args[3] != "0";
      out[k].push_back(e);
    }
  }
  return out;
}

TEST(EventFields, EveryFieldAnEmitterSetsHasANameAndEveryNameIsSetSomewhere) {
  const auto emitters = emitters_in_sources();
  // The servers, the simulator, the event loop's tracking and the gates: most
  // kinds have a call site of their own.
  EXPECT_GE(emitters.size(), kKinds - 2) << "the source scan found too few emit() calls";
  for (const auto& [kind, calls] : emitters) {
    const trace::KindFields& f = trace::kind_fields(kind);
    bool a_set = false, b_set = false;
    for (const Emitter& e : calls) {
      a_set = a_set || e.sets_a;
      b_set = b_set || e.sets_b;
      if (e.sets_a) {
        EXPECT_TRUE(f.a.used()) << e.where << " sets a of " << trace::kind_name(kind) << ", which has no name";
      }
      if (e.sets_b) {
        EXPECT_TRUE(f.b.used()) << e.where << " sets b of " << trace::kind_name(kind) << ", which has no name";
      }
    }
    // And the other way: a name no emitter fills is a stale row.
    if (f.a.used()) {
      EXPECT_TRUE(a_set) << trace::kind_name(kind) << " names a '" << f.a.name << "' but no emit() sets it";
    }
    if (f.b.used()) {
      EXPECT_TRUE(b_set) << trace::kind_name(kind) << " names b '" << f.b.name << "' but no emit() sets it";
    }
  }
}

TEST(EventFields, ValuesReadByName) {
  trace::Event e;
  e.kind = Kind::reply;
  e.a = 226;
  e.b = 4342967;
  EXPECT_EQ(trace::describe_fields(e), "status 226 · bytes 4342967");
  e.kind = Kind::gate_wait;
  e.a = static_cast<std::int64_t>(trace::GateKind::read);
  e.b = 3 | (std::int64_t{0x7abc1234} << 32);
  EXPECT_EQ(trace::describe_fields(e), "gate read · slot 3");
  e.kind = Kind::gate_pass;
  e.b = -1;
  EXPECT_EQ(trace::describe_fields(e), "gate read · slot none (slow)");
  e.kind = Kind::fork;
  e.a = 4321;
  e.b = 0;
  EXPECT_EQ(trace::describe_fields(e), "child pid 4321") << "b is the fork server's 0: left out";
  e.b = 2;
  EXPECT_EQ(trace::describe_fields(e), "child pid 4321 · request/worker 2");
  e.kind = Kind::reap;
  e.b = 9;  // killed by SIGKILL
  EXPECT_EQ(trace::describe_fields(e), "child pid 4321 · wait status signal 9");
  e.b = 3 << 8;
  EXPECT_EQ(trace::describe_fields(e), "child pid 4321 · wait status exit 3");
  e.kind = Kind::client_reply;
  e.a = 230;
  e.b = 1'500'000;
  EXPECT_EQ(trace::describe_fields(e), "status 230 · latency 1.50 ms");
  e.kind = Kind::request;
  e.a = 90;
  EXPECT_EQ(trace::describe_fields(e), "read bytes 90") << "the read a request stands for too";
  e.a = 0;
  EXPECT_EQ(trace::describe_fields(e), "") << "a plain request's numbers are unused";
  e.kind = Kind::transfer;
  e.a = 10;
  e.b = 1;
  EXPECT_EQ(trace::describe_fields(e), "bytes 10 · ok yes");
  e.kind = Kind::timeout;
  e.a = 3000;
  e.b = 1;
  EXPECT_EQ(trace::describe_fields(e), "limit 3 s · timer request deadline");
  e.a = 300000;
  e.b = 0;
  EXPECT_EQ(trace::describe_fields(e), "limit 300 s · timer idle timeout");
  e.a = 1500;
  EXPECT_EQ(trace::describe_fields(e), "limit 1.50 s · timer idle timeout");

  // The row's tooltip: the kind's sentence, then each field by name, raw too
  // when the value was formatted.
  e.kind = Kind::reap;
  e.a = 4321;
  e.b = 9;
  EXPECT_EQ(app::row_tooltip(e),
            "reap: " + std::string(trace::kind_explanation(Kind::reap)) +
                "\na = child pid: 4321\nb = wait status: signal 9 (raw 9)");
}

// A session where server connection 2 was made by simulated client 3.
session::Session joined_session() {
  session::Session s;
  std::vector<trace::Event> ev;
  auto add = [&](std::uint64_t ts, Kind k, std::uint32_t pid, std::uint32_t conn, std::int64_t a, std::int64_t b) {
    ev.push_back(test::event(ts, pid, k, conn, a, b));
  };
  add(1000, Kind::server_start, 100, 0, 2121, 0);
  add(2000, Kind::client_connect, 200, 1, 40001, 1000);
  add(2100, Kind::accept, 100, 1, 40001, 5);
  add(3000, Kind::client_connect, 200, 3, 40003, 1000);
  add(3100, Kind::accept, 100, 2, 40003, 6);
  add(4000, Kind::reply, 100, 2, 220, 20);
  add(4100, Kind::client_reply, 200, 3, 220, 50000);
  s.add_events(ev.data(), ev.size());
  return s;
}

TEST(EventFields, ConnLabelsNameTheServersConnectionAndTheSimulatorsClient) {
  session::Session s = joined_session();
  const auto& model = s.model();
  const auto& events = s.events();
  auto event = [&](Kind k, std::uint32_t conn) {
    for (const auto& e : events)
      if (e.kind == k && e.conn == conn) return e;
    return trace::Event{};
  };
  ASSERT_NE(model.find_connection(2), nullptr);
  ASSERT_EQ(model.find_connection(2)->client_id, 3u) << "joined by port";
  EXPECT_EQ(app::conn_label(event(Kind::reply, 2), model), "conn #2 · client 3");
  EXPECT_EQ(app::conn_label(event(Kind::client_reply, 3), model), "client 3 · conn #2");
  EXPECT_EQ(app::conn_label(event(Kind::server_start, 0), model), "");
  const std::string tip = app::conn_tooltip(event(Kind::reply, 2), model);
  EXPECT_NE(tip.find("connection #2"), std::string::npos) << tip;
  EXPECT_NE(tip.find("client 3"), std::string::npos) << tip;
  EXPECT_NE(app::conn_tooltip(event(Kind::client_reply, 3), model).find("client-side"), std::string::npos);
}

// ---- the log, drawn ----------------------------------------------------------------

class EventLogDrawn : public gui_test::HeadlessImGuiTest {};

TEST_F(EventLogDrawn, AtFont24On1280x720EveryValueFitsItsColumn) {
  ImGuiIO& io = ImGui::GetIO();
  io.DisplaySize = ImVec2(1280, 720);
  app::load_fonts(24.0f, 1.0f);
  unsigned char* pixels = nullptr;
  int w = 0, h = 0;
  io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);

  // One event of every kind, with the widest values each can show.
  session::Session s;
  std::vector<trace::Event> ev;
  for (std::size_t i = 0; i < kKinds; ++i) {
    const auto kind = static_cast<Kind>(i);
    const std::int64_t a = kind == Kind::gate_wait || kind == Kind::gate_pass
                               ? static_cast<std::int64_t>(trace::GateKind::counter_write)
                               : 4194304;
    const std::int64_t b = kind == Kind::client_connect || kind == Kind::client_reply ? 999'990'000 : 4342967999;
    ev.push_back(test::event(1000 + i, 4194304, kind, 9999, a, b, "abcdefghijklmnopqrstuvwx"));
  }
  s.add_events(ev.data(), ev.size());

  app::EventLogView log;
  log.follow = false;
  ImGuiTable* table = nullptr;
  for (int f = 0; f < 4; ++f) {
    ImGui::NewFrame();
    ImGui::SetNextWindowPos(ImVec2(0, 0));
    ImGui::SetNextWindowSize(ImVec2(1280, 720));
    const auto& model = s.model();
    app::FrameContext ctx{s, model, 2000, nullptr, 60.0};
    log.draw(ctx);
    ImGui::Render();
  }
  // The table's columns against what the rows show, in the log's font.
  ImGuiContext& g = *GImGui;
  for (int i = 0; i < g.Tables.GetMapSize(); ++i)
    if (ImGuiTable* t = g.Tables.TryGetMapData(i); t != nullptr && t->ColumnsCount == 7) table = t;
  ASSERT_NE(table, nullptr);
  ImGui::NewFrame();
  ImGui::PushFont(app::style::fonts().mono ? app::style::fonts().mono : ImGui::GetFont());
  float widest_values = 0, widest_conn = 0;
  const auto& model = s.model();
  for (const auto& e : s.events()) {
    widest_values = std::max(widest_values, ImGui::CalcTextSize(trace::describe_fields(e).c_str()).x);
    widest_conn = std::max(widest_conn, ImGui::CalcTextSize(app::conn_label(e, model).c_str()).x);
  }
  ImGui::PopFont();
  ImGui::EndFrame();
  // WidthGiven is the content's width, the cell padding aside.
  EXPECT_GE(table->Columns[2].WidthGiven, widest_values) << "values column";
  EXPECT_GE(table->Columns[4].WidthGiven, widest_conn) << "conn column";
  EXPECT_GT(widest_values, 0.0f);
}

TEST_F(EventLogDrawn, InTheOverviewsSmallSlotNothingRunsPastTheWindowsRightEdge) {
  // The overview at 1280x720 with a 24 px font gives the log about 320 x 150.
  ImGuiIO& io = ImGui::GetIO();
  io.DisplaySize = ImVec2(1280, 720);
  app::load_fonts(24.0f, 1.0f);
  unsigned char* pixels = nullptr;
  int w = 0, h = 0;
  io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
  session::Session s = joined_session();
  app::EventLogView log;
  ImGuiWindow* win = nullptr;
  for (int f = 0; f < 4; ++f) {
    ImGui::NewFrame();
    ImGui::SetNextWindowPos(ImVec2(640, 390));
    ImGui::SetNextWindowSize(ImVec2(320, 150));
    const auto& model = s.model();
    app::FrameContext ctx{s, model, 5000, nullptr, 60.0};
    log.draw(ctx);
    ImGui::Render();
    win = ImGui::FindWindowByName("###event_log");
  }
  ASSERT_NE(win, nullptr);
  // The filter fields wrap; the table scrolls sideways inside its own region.
  EXPECT_LE(win->ContentSize.x, win->ContentRegionRect.GetWidth() + 1.0f)
      << "something in the log runs past its right edge";
}

}  // namespace
}  // namespace sockscope
