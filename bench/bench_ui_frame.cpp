// UI frame time: the CPU cost of one frame of the app (AppUi::draw between
// ImGui::NewFrame and ImGui::Render) in a headless ImGui context — no window,
// no GL, the font atlas built on the CPU — over a big session: 300 processes,
// 1,000 connections, 1,000,000 events. Prints median and p99 per frame for the
// whole frame and for each view drawn alone. The budget is a 60 Hz frame
// (16.7 ms); GPU time is not part of this.
//
// Sessions (built in memory, no lab, no processes):
//   prefork: a server, 298 prefork workers and a client simulator; workers
//            accept 1,000 connections (700 closed, 300 open), then read/write
//            traffic on the open ones fills the store to 1,000,000 events.
//   fork:    the GUI tests' recorded fork session (tests/gui/recorded_session)
//            scaled to 300 processes (one connection per child) and
//            1,000,000 events, as a cross-check with a different tree shape.
//
// Usage: bench_ui_frame [frames]   (default 200)
#include <imgui.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "app_ui.h"
#include "fonts.h"
#include "recorded_session.h"
#include "views/connections_view.h"
#include "views/controls_view.h"
#include "views/event_log_view.h"
#include "views/event_loop_view.h"
#include "views/flow_view.h"
#include "views/code_view.h"
#include "views/process_tree_view.h"
#include "views/status_bar.h"
#include "views/totals_view.h"
#include "views/style.h"

namespace {

using namespace sockscope;
using Clock = std::chrono::steady_clock;
using K = trace::Kind;

constexpr std::size_t kEvents = 1'000'000;
constexpr int kConnections = 1000;
constexpr int kClosed = 700;
constexpr int kWorkers = 298;  // + the server + the simulator = 300 processes

trace::Event ev(std::uint64_t t, pid_t pid, K kind, std::uint32_t conn = 0, std::int64_t a = 0, std::int64_t b = 0,
                const char* text = "") {
  trace::Event e;
  e.ts_ns = t;
  e.pid = static_cast<std::uint32_t>(pid);
  e.tid = static_cast<std::uint32_t>(pid);
  e.kind = kind;
  e.conn = conn;
  e.a = a;
  e.b = b;
  e.set_text(text);
  return e;
}

session::Session make_prefork_session() {
  const pid_t server = 51000, sim = 59000;
  session::Session s;
  session::SessionMeta meta;
  meta.architecture = "prefork";
  meta.protocol = "http";
  meta.port = 4480;
  meta.server_pid = server;
  meta.start_ns = 1'000'000'000ull;
  meta.options = {{"workers", std::to_string(kWorkers)}};
  s.set_meta(meta);

  std::vector<trace::Event> events;
  events.reserve(kEvents);
  std::uint64_t t = meta.start_ns;
  events.push_back(ev(t += 1000, server, K::server_start, 0, 4480, 0, "prefork"));
  events.push_back(ev(t += 1000, server, K::listen, 0, 4480, 3));
  for (int i = 0; i < kWorkers; ++i) {
    const pid_t w = server + 1 + i;
    events.push_back(ev(t += 2000, server, K::fork, 0, w, i));
    events.push_back(ev(t += 1000, w, K::child_start, 0, server));
    events.push_back(ev(t += 1000, w, K::worker_start, 0, i));
  }
  for (int c = 1; c <= kConnections; ++c) {
    const auto conn = static_cast<std::uint32_t>(c);
    const int wi = (c - 1) % kWorkers;
    const pid_t w = server + 1 + wi;
    const auto port = static_cast<std::int64_t>(40000 + c);
    events.push_back(ev(t += 10'000, sim, K::client_connect, conn, port, 80'000));
    events.push_back(ev(t += 5'000, w, K::accept, conn, port, 5));
    events.push_back(ev(t += 1'000, w, K::dequeue, conn, 0, wi));
    events.push_back(ev(t += 5'000, w, K::read, conn, 80));
    events.push_back(ev(t += 1'000, w, K::request, conn, 0, 0, "/hello.txt"));
    events.push_back(ev(t += 5'000, w, K::write, conn, 120));
    events.push_back(ev(t += 1'000, w, K::reply, conn, 200, 13));
    events.push_back(ev(t += 1'000, sim, K::client_reply, conn, 200, 150'000 + (c % 50) * 1000));
    if (c <= kClosed) {
      events.push_back(ev(t += 5'000, w, K::close, conn, 80, 120));
      events.push_back(ev(t += 1'000, sim, K::client_close, conn, 120));
    }
  }
  // Keep-alive traffic on the open connections fills the store.
  for (std::size_t i = 0; events.size() < kEvents; ++i) {
    const int c = kClosed + 1 + static_cast<int>(i % (kConnections - kClosed));
    const pid_t w = server + 1 + (c - 1) % kWorkers;
    events.push_back(ev(t += 1'000, w, i % 2 == 0 ? K::read : K::write, static_cast<std::uint32_t>(c),
                        64 + static_cast<std::int64_t>(i % 100)));
  }
  s.add_events(events.data(), events.size());

  for (int k = 0; k < 50; ++k) {
    observe::ProcSnapshot snap;
    snap.ts_ns = t + static_cast<std::uint64_t>(k + 1) * 100'000'000ull;
    snap.root = server;
    for (int i = -1; i < kWorkers; ++i) {
      observe::ProcInfo p;
      p.pid = i < 0 ? server : server + 1 + i;
      p.ppid = i < 0 ? 1 : server;
      p.state = 'S';
      p.comm = "sockscope";
      p.cmdline = "sockscope serve --arch prefork --protocol http --port 4480";
      p.threads = 1;
      p.tids = {p.pid};
      p.rss_kb = 5200;
      p.pss_kb = 1300;
      p.fds = 8;
      snap.procs.push_back(std::move(p));
    }
    s.add_snapshot(std::move(snap));
  }
  return s;
}

session::Session make_fork_session() {
  gui_test::RecordedShape shape;
  shape.children_alive = 120;
  shape.children_done = 158;
  shape.zombies = 20;  // 298 children + server + simulator = 300 processes
  shape.snapshots = 50;
  // The shape adds ~10 events per child; fill the rest with read/write.
  const int total = shape.children_alive + shape.children_done + shape.zombies;
  shape.extra_io_events = static_cast<int>(kEvents) - total * 11;
  return gui_test::make_recorded_session(shape);
}

struct Stats {
  double median_ms = 0, p99_ms = 0, max_ms = 0;
  int vertices = 0;  // of the last frame: proof the view drew its rows
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) { return v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))]; };
  return {rank(0.5), rank(0.99), v.back(), 0};
}

// Times `frames` frames of `draw`, after 10 unmeasured frames that size and
// place the windows. The mouse sweeps the display so hover paths run too.
Stats time_frames(const session::Session& s, int frames, const std::function<void(app::FrameContext&)>& draw) {
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(frames));
  for (int f = -10; f < frames; ++f) {
    ImGuiIO& io = ImGui::GetIO();
    io.MousePos = ImVec2(static_cast<float>((f * 37 + 400) % 1600), static_cast<float>((f * 23 + 300) % 900));
    auto t0 = Clock::now();
    ImGui::NewFrame();
    app::FrameContext ctx{s, s.model(), s.last_ns(), nullptr, 60.0};
    draw(ctx);
    ImGui::Render();
    double d = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (f >= 0) ms.push_back(d);
  }
  Stats st = stats(std::move(ms));
  st.vertices = ImGui::GetDrawData()->TotalVtxCount;
  return st;
}

// A view drawn alone gets the area the app's layout would give it (the tree's
// share of a 1600x900 display), not ImGui's tiny first-use default.
void place_window() {
  ImGui::SetNextWindowPos(ImVec2(380, 30), ImGuiCond_Always);
  ImGui::SetNextWindowSize(ImVec2(1200, 820), ImGuiCond_Always);
}

void fresh_context() {
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;
  io.DisplaySize = ImVec2(1600, 900);
  io.DeltaTime = 1.0f / 60.0f;
  // What the app's OpenGL3 backend declares: draw lists past 64K vertices are
  // split into several draw calls instead of overflowing 16-bit indices.
  io.BackendFlags |= ImGuiBackendFlags_RendererHasVtxOffset;
  app::load_fonts(app::kDefaultFontPx, 1.0f);
  unsigned char* pixels = nullptr;
  int w = 0, h = 0;
  io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
  app::style::apply_theme(app::style::Theme::dark, 1.0f);
}

void bench_session(const char* name, const session::Session& s, int frames) {
  const auto& m = s.model();  // the fold is built once, before any frame (as the ingest thread does live)
  std::printf("\n### %s session: %zu processes, %zu connections, %zu events, %zu snapshots\n\n", name,
              m.processes.size(), m.connections.size(), s.events().size(), s.snapshots().size());
  std::printf(
      "| drawn | frames | median ms | p99 ms | max ms | p99 share of 16.7 ms | vertices |\n"
      "|---|---|---|---|---|---|---|\n");
  auto row = [&](const char* what, Stats st) {
    std::printf("| %s | %d | %.2f | %.2f | %.2f | %.0f%% | %d |\n", what, frames, st.median_ms, st.p99_ms, st.max_ms,
                st.p99_ms / (1000.0 / 60.0) * 100.0, st.vertices);
    std::fflush(stdout);
  };
  // Each measurement in its own context so window state does not leak across.
  fresh_context();
  {
    app::AppUi ui;
    row("whole AppUi frame", time_frames(s, frames, [&](app::FrameContext& c) { ui.draw(c); }));
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    app::AppUi ui;
    ui.set_layout(app::AppUi::Layout::stepping);
    row("whole AppUi frame, stepping layout", time_frames(s, frames, [&](app::FrameContext& c) { ui.draw(c); }));
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    // Presentation mode: the tree alone over the whole display (the text
    // stays at the desk's size here: the atlas is built once per context).
    app::AppUi ui;
    ui.present(app::WindowId::tree);
    ui.font_changed = false;
    row("whole AppUi frame, presenting the tree", time_frames(s, frames, [&](app::FrameContext& c) { ui.draw(c); }));
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    app::AppUi ui;
    ui.present(app::WindowId::flow);
    ui.font_changed = false;
    row("whole AppUi frame, presenting the flow", time_frames(s, frames, [&](app::FrameContext& c) { ui.draw(c); }));
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    app::ProcessTreeView v;
    row("process tree (siblings past two rows folded)", time_frames(s, frames, [&](app::FrameContext& c) {
                           place_window();
                           v.draw(c);
                         }));
    const auto drawn = v.drawn_json();
    std::printf("|   (the tree drew %s nodes at %s detail; folded: %s) | | | | | | |\n",
                drawn.at("nodes").dump().c_str(), drawn.at("detail").get<std::string>().c_str(),
                drawn.at("folded").dump().c_str());
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    app::TotalsView v;
    row("totals chart", time_frames(s, frames, [&](app::FrameContext& c) {
                           place_window();
                           v.draw(c);
                         }));
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    app::ConnectionsView v;
    row("connections", time_frames(s, frames, [&](app::FrameContext& c) {
                           place_window();
                           v.draw(c);
                         }));
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    app::EventLogView v;
    row("event log", time_frames(s, frames, [&](app::FrameContext& c) {
                           place_window();
                           v.draw(c);
                         }));
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    app::ControlsView v;
    row("controls", time_frames(s, frames, [&](app::FrameContext& c) {
                           place_window();
                           v.draw(c);
                         }));
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    app::EventLoopView v;
    row("event loop (no loop events here)", time_frames(s, frames, [&](app::FrameContext& c) {
                           place_window();
                           v.draw(c);
                         }));
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    // A fresh view each frame: the diagram is folded every frame, as it is
    // while a live run keeps adding events (a still session is folded once).
    std::optional<app::FlowView> v;
    row("connection flow (folded every frame)", time_frames(s, frames, [&](app::FrameContext& c) {
                           v.emplace();
                           place_window();
                           v->draw(c);
                         }));
  }
  ImGui::DestroyContext();
  fresh_context();
  {
    std::optional<app::CodeView> v;
    row("code view (who is parked, folded every frame)", time_frames(s, frames, [&](app::FrameContext& c) {
                           v.emplace();
                           c.at_instant = true;
                           place_window();
                           v->draw(c);
                         }));
  }
  ImGui::DestroyContext();
  fresh_context();
  row("status bar", time_frames(s, frames, [&](app::FrameContext& c) { app::draw_status_bar(c); }));
  ImGui::DestroyContext();
}

}  // namespace

int main(int argc, char** argv) {
  const int frames = argc > 1 ? std::max(10, std::atoi(argv[1])) : 200;
  const auto t0 = Clock::now();

  auto tb = Clock::now();
  session::Session prefork = make_prefork_session();
  const double build_ms = std::chrono::duration<double, std::milli>(Clock::now() - tb).count();
  auto tf = Clock::now();
  prefork.model();
  const double fold_ms = std::chrono::duration<double, std::milli>(Clock::now() - tf).count();
  std::printf("prefork session: built in %.0f ms, first full fold of the model %.0f ms (once, not per frame)\n",
              build_ms, fold_ms);
  bench_session("prefork", prefork, frames);

  session::Session fork = make_fork_session();
  bench_session("fork (recorded_session)", fork, frames);

  std::printf("\n(total %.1f s)\n", std::chrono::duration<double>(Clock::now() - t0).count());
  return 0;
}
