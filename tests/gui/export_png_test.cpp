// File > Export from a script, under Xvfb: the real `sockscope` binary starts
// a fork server (port 0), runs 2 clients, then `export png` and `export jsonl`
// go through the Export button's code path (ExportView::request_export). The
// test checks the PNG (signature, IHDR size = the window, not one colour, the
// lesson in it, no temporary file left) and that the JSON Lines file reimports
// with the fork server's connections. Also: a PNG into a directory that does
// not exist fails the script naming the line and the path, and a bad format
// is refused before anything runs. And, headless, ExportView's contract that
// the script relies on: tickets, outcomes, one export at a time, the PNG due
// two frames after it was asked for.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>

#include "png_file.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app_ui.h"
#include "gui/app_process.h"
#include "gui/headless_imgui.h"
#include "recorded_session.h"
#include "session/export.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The window's size (--geometry); the Xvfb screen is larger, so a PNG of this
// size is the window and not the screen.
constexpr int kWindowW = 1600;
constexpr int kWindowH = 900;
const char* const kXvfbScreen = "-screen 0 1920x1080x24";

using sockscope::gui_test::Proc;
using sockscope::gui_test::process_exists;
using sockscope::gui_test::slurp;
using sockscope::test::TempDir;

// The app with its own config dir in `dir`, output to dir/out and dir/err.
Proc run_app(const std::vector<std::string>& argv, const fs::path& dir) {
  return Proc::spawn(argv, {"XDG_CONFIG_HOME=" + (dir / "config").string()}, {}, dir / "out", dir / "err");
}

std::vector<std::string> gui_argv(const TempDir& dir, const fs::path& script) {
  std::vector<std::string> argv = sockscope::gui_test::xvfb_run(dir, kXvfbScreen);
  argv.insert(argv.end(), {SOCKSCOPE_BIN, "--geometry", std::to_string(kWindowW) + "x" + std::to_string(kWindowH),
                           "--script", script.string()});
  return argv;
}

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}


TEST(GuiExport, ScriptExportsPngAndJsonlThroughTheExportButtonsPath) {
  TempDir dir;
  const fs::path shot = dir / "shot.png";
  const fs::path jsonl = dir / "s.jsonl";
  const fs::path model = dir / "model.json";
  const fs::path script = dir / "export.script";
  std::ofstream(script) << "start fork port=0\n"
                           "clients 2 hold_ms=4000\n"
                           "wait connections 2 timeout=20\n"
                           "wait ms 300\n"
                           "dump-model " << model.string() << "\n"
                        << "export png " << shot.string() << "\n"
                        << "export jsonl " << jsonl.string() << "\n"
                        << "quit\n";
  Proc app = run_app(gui_argv(dir, script), dir.path());
  ASSERT_TRUE(app.wait_for(90s)) << "the app did not exit; stderr:\n" << slurp(dir / "err");
  ASSERT_EQ(app.exit_code(), 0) << slurp(dir / "err");

  // The PNG: signature, IHDR first with the window's size.
  const std::string png = slurp(shot);
  ASSERT_GE(png.size(), 33u) << shot << " missing or truncated";
  const auto* bytes = reinterpret_cast<const unsigned char*>(png.data());
  const std::array<unsigned char, 8> signature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_TRUE(std::equal(signature.begin(), signature.end(), bytes)) << "not a PNG signature";
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(be32(bytes + 16), static_cast<std::uint32_t>(kWindowW));
  EXPECT_EQ(be32(bytes + 20), static_cast<std::uint32_t>(kWindowH));

  // Decoded: many colours, and the lesson (the fork server's listener box,
  // dark theme fill from app/views/style.cpp) rather than the export dialog.
  const auto png_summary = sockscope::gui_test::summarize_png(shot, {0x1E5A96});
  ASSERT_TRUE(png_summary.ok) << png_summary.error;
  EXPECT_EQ(png_summary.w, kWindowW);
  EXPECT_EQ(png_summary.h, kWindowH);
  EXPECT_GT(png_summary.colours, 50u) << "the PNG is (nearly) one colour";
  const std::size_t listener_px = png_summary.counts.at(0x1E5A96);
  EXPECT_GT(listener_px, 5000u) << "no listener box: the PNG does not show the lesson";

  // Written atomically: no temporary file left next to the results.
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << "left behind: " << entry.path();

  // The JSON Lines file reimports, with the fork server's connections.
  nlohmann::json m = nlohmann::json::parse(slurp(model));
  const pid_t server = m.at("server_pid").get<pid_t>();
  ASSERT_GT(server, 0);
  std::string error;
  auto session = sockscope::session::read_jsonl(jsonl, error);
  ASSERT_TRUE(session.has_value()) << error;
  EXPECT_EQ(session->meta().server_pid, server);
  const auto& imported = session->model();
  EXPECT_GE(imported.counts.connections_accepted, 2u);
  std::size_t served_by_fork = 0;
  for (const auto& c : imported.connections) {
    if (c.listener_pid != server) continue;
    ++served_by_fork;
    EXPECT_NE(c.serving_pid, server) << "fork: connection " << c.id << " must be served by a child";
  }
  EXPECT_GE(served_by_fork, 2u);
  EXPECT_GE(imported.counts.children_forked, 2u);

  // Nothing outlives the app.
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(process_exists(server)) << "server " << server << " still running";
}

TEST(GuiExport, PngIntoAMissingDirectoryFailsTheScriptNamingThePath) {
  TempDir dir;
  const fs::path missing = dir / "no-such-dir" / "shot.png";
  const fs::path script = dir / "missing.script";
  std::ofstream(script) << "# a PNG where it cannot go\n"
                        << "export png " << missing.string() << "\n"
                        << "quit\n";
  Proc app = run_app(gui_argv(dir, script), dir.path());
  ASSERT_TRUE(app.wait_for(60s)) << "the app did not exit";
  const std::string err = slurp(dir / "err");
  EXPECT_EQ(app.exit_code(), 1) << err;  // a failed command: 1 (a bad line would be 2)
  EXPECT_NE(err.find(script.string() + ":2: export failed"), std::string::npos) << err;
  EXPECT_NE(err.find(missing.string()), std::string::npos) << err;
  EXPECT_NE(err.find("no such directory"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(missing.parent_path()));
}

// A disk that fills up mid-PNG: false, naming the file and the reason, and
// no truncated PNG or temp file left (stb's file writer ignored write errors
// and the truncated file was renamed into place). A file size limit stands in
// for the full disk: writes past it fail with EFBIG once SIGXFSZ is ignored.
TEST(PngFile, APngThatCannotBeWrittenWholeFailsAndLeavesNothing) {
  TempDir dir;
  const fs::path shot = dir / "shot.png";
  // Noise compresses badly: far more than the limit.
  std::vector<unsigned char> rgb(640u * 480u * 3u);
  std::uint32_t x = 12345;
  for (auto& b : rgb) b = static_cast<unsigned char>((x = x * 1103515245u + 12345u) >> 24);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string error;
  const bool ok = sockscope::app::write_png_file(shot.string(), 640, 480, rgb.data(), error);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(ok);
  EXPECT_NE(error.find(shot.string()), std::string::npos) << error;
  EXPECT_NE(error.find("File too large"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(shot)) << "a truncated PNG was left";
  for (const auto& f : fs::directory_iterator(dir.path())) ADD_FAILURE() << "left behind: " << f.path();
  // With room, the same call writes a whole PNG.
  ASSERT_TRUE(sockscope::app::write_png_file(shot.string(), 640, 480, rgb.data(), error)) << error;
  EXPECT_GT(fs::file_size(shot), 64u * 1024u);
}

TEST(GuiExport, JsonlIntoAMissingDirectoryFailsTheScriptToo) {
  TempDir dir;
  const fs::path missing = dir / "no-such-dir" / "s.jsonl";
  const fs::path script = dir / "missing.script";
  std::ofstream(script) << "export jsonl " << missing.string() << "\nquit\n";
  Proc app = run_app(gui_argv(dir, script), dir.path());
  ASSERT_TRUE(app.wait_for(60s)) << "the app did not exit";
  const std::string err = slurp(dir / "err");
  EXPECT_EQ(app.exit_code(), 1) << err;
  EXPECT_NE(err.find(script.string() + ":1: export failed"), std::string::npos) << err;
  EXPECT_NE(err.find(missing.parent_path().string()), std::string::npos) << err;
}

TEST(GuiExport, UnknownFormatIsRefusedBeforeAnythingRuns) {
  TempDir dir;
  const fs::path script = dir / "bad.script";
  std::ofstream(script) << "start fork port=0\nexport gif " << (dir / "x.gif").string() << "\nquit\n";
  // No display needed: the script is parsed before the window opens.
  Proc app = run_app({SOCKSCOPE_BIN, "--script", script.string()}, dir.path());
  ASSERT_TRUE(app.wait_for(20s));
  EXPECT_EQ(app.exit_code(), 2);
  const std::string err = slurp(dir / "err");
  EXPECT_NE(err.find(script.string() + ":2: export format must be jsonl, chrome, csv, text or png, got 'gif'"),
            std::string::npos)
      << err;
}

// ---- headless: the ExportView calls the script makes ----------------------

class ExportViewHeadless : public sockscope::gui_test::HeadlessImGuiTest {
 protected:
  // One frame of the whole UI; returns the PNG due after it (the shell's check).
  std::string frame(sockscope::app::AppUi& ui, const sockscope::session::Session& s) {
    ImGui::NewFrame();
    sockscope::app::FrameContext ctx{s, s.model(), s.last_ns(), nullptr, 60.0};
    ui.draw(ctx);
    ImGui::Render();
    return ui.due_png();
  }
};

TEST_F(ExportViewHeadless, JsonlTicketFinishesWithTheWrittenFileAndRefusesASecondAtOnce) {
  using sockscope::app::ExportFormat;
  TempDir dir;
  sockscope::session::Session s = sockscope::gui_test::make_recorded_session(sockscope::gui_test::RecordedShape{});
  sockscope::app::AppUi ui;
  frame(ui, s);
  std::string error;
  const std::uint64_t ticket = ui.request_export(ExportFormat::jsonl, (dir / "s.jsonl").string(), error);
  ASSERT_NE(ticket, 0u) << error;
  EXPECT_FALSE(ui.export_outcome(ticket).has_value()) << "finished before any frame ran it";
  // Asked for, not finished: a second export is refused, naming why.
  EXPECT_EQ(ui.request_export(ExportFormat::csv, (dir / "s.csv").string(), error), 0u);
  EXPECT_EQ(error, "another export is still running");
  std::optional<sockscope::app::ExportOutcome> done;
  for (int f = 0; f < 2000 && !done; ++f) {
    EXPECT_TRUE(frame(ui, s).empty());
    done = ui.export_outcome(ticket);
    if (!done) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(done.has_value()) << "the export did not finish in 2000 frames";
  EXPECT_TRUE(done->ok) << done->message;
  EXPECT_EQ(done->message, "Wrote " + (dir / "s.jsonl").string());
  auto back = sockscope::session::read_jsonl(dir / "s.jsonl", error);
  ASSERT_TRUE(back.has_value()) << error;
  EXPECT_TRUE(back->same_store(s));
  EXPECT_FALSE(fs::exists(dir / "s.csv"));
  // Finished: the next one is accepted, with a new ticket.
  const std::uint64_t next = ui.request_export(ExportFormat::text, (dir / "s.txt").string(), error);
  EXPECT_GT(next, ticket);
  for (int f = 0; f < 2000 && !ui.export_outcome(next); ++f) {
    frame(ui, s);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(ui.export_outcome(next).has_value());
  EXPECT_TRUE(ui.export_outcome(next)->ok) << ui.export_outcome(next)->message;
  EXPECT_FALSE(ui.export_outcome(ticket).has_value()) << "an old ticket's outcome is gone once a newer one finished";
}

TEST_F(ExportViewHeadless, PngIsDueTwoFramesLaterAndItsReportIsTheOutcome) {
  using sockscope::app::ExportFormat;
  sockscope::session::Session s = sockscope::gui_test::make_recorded_session(sockscope::gui_test::RecordedShape{});
  sockscope::app::AppUi ui;
  frame(ui, s);
  std::string error;
  const std::string path = "/tmp/where-the-shell-writes.png";
  const std::uint64_t ticket = ui.request_export(ExportFormat::png, path, error);
  ASSERT_NE(ticket, 0u) << error;
  // The frame it starts in and the next: not yet (the dialog, if open, closes first).
  EXPECT_EQ(frame(ui, s), "");
  EXPECT_EQ(frame(ui, s), "");
  EXPECT_EQ(frame(ui, s), path);
  EXPECT_EQ(frame(ui, s), "") << "due_png() hands the path out once";
  EXPECT_FALSE(ui.export_outcome(ticket).has_value()) << "no outcome before the shell reports";
  // The shell's report (gui_main.cpp calls this after Window::write_png).
  ui.png_written(false, "cannot write " + path + ": /tmp: no such directory");
  auto done = ui.export_outcome(ticket);
  ASSERT_TRUE(done.has_value());
  EXPECT_FALSE(done->ok);
  EXPECT_NE(done->message.find(path), std::string::npos);
}

}  // namespace
