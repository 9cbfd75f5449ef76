// The window shell. Sections:
//   1. no-display check and signals   2. Window (GLFW + GL + ImGui setup)
//   3. frame loop (idle policy, shortcuts, script, screenshot)   4. entry points
#include "gui_main.h"

#include <epoxy/gl.h>
// epoxy before GLFW: GLFW must not pull in the system GL header itself.
#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#if defined(__SANITIZE_ADDRESS__)
#include <dlfcn.h>
#include <link.h>
#endif

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string_view>
#include <vector>

#include "app_ui.h"
#include "compare_run.h"
#include "fonts.h"
#include "lab_controller.h"
#include "lesson/lesson.h"
#include "script.h"
#include "png_file.h"
#include "settings.h"
#include "trace/ring.h"

namespace sockscope::app {
namespace {

// ---- 1. no display, signals ---------------------------------------------------

// Under AddressSanitizer only (the asan preset). Mesa's GL driver is
// unloaded at exit; what its globals still point to then looks leaked to
// LeakSanitizer, in a report whose frames it cannot name (they lie in the
// unloaded library). Pinning the driver (RTLD_NODELETE: never unloaded)
// keeps those pointers where LeakSanitizer sees them, so the report goes
// away without a suppression and nothing of ours is hidden.
void pin_gl_driver_for_leak_checks() {
#if defined(__SANITIZE_ADDRESS__)
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void*) {
        const std::string_view name = info->dlpi_name != nullptr ? info->dlpi_name : "";
        if (name.ends_with("_dri.so") || name.find("libGLX_mesa.so") != std::string_view::npos)
          dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        return 0;
      },
      nullptr);
#endif
}

constexpr const char* kHeadless =
    "; headless: `sockscope run --arch fork --clients 5` or `sockscope serve --arch fork`";

std::atomic<bool> g_stop_requested{false};
std::string g_glfw_error;

void on_stop_signal(int) { g_stop_requested.store(true); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool have_display_env() {
  const char* x = std::getenv("DISPLAY");
  const char* w = std::getenv("WAYLAND_DISPLAY");
  return (x != nullptr && x[0] != '\0') || (w != nullptr && w[0] != '\0');
}

// ---- 2. the window --------------------------------------------------------------

// Set by the input callbacks: ImGui needs a couple of frames after input to
// settle (hover, popups), so the loop draws a few frames fast after one.
std::atomic<int> g_input_frames{0};
void note_input() { g_input_frames.store(4); }

class Window {
 public:
  // w, h = 0: the monitor's work area (the screen less panels and docks).
  bool open(int w, int h, bool fullscreen, const std::string& title, bool script_mode, std::string& error) {
    script_mode_ = script_mode;
    glfwSetErrorCallback([](int, const char* msg) { g_glfw_error = msg != nullptr ? msg : ""; });
    if (!glfwInit()) {
      error = "cannot open a display (" + g_glfw_error + ")";
      return false;
    }
    glfw_ = true;
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
    glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
    glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
    GLFWmonitor* monitor = glfwGetPrimaryMonitor();
    int wx = 0, wy = 0, ww = 0, wh = 0;
    if (monitor != nullptr) glfwGetMonitorWorkarea(monitor, &wx, &wy, &ww, &wh);
    const bool fit = w <= 0 || h <= 0;
    if (fit) {
      w = ww > 0 ? ww : 1600;
      h = wh > 0 ? wh : 900;
    }
    window_ = glfwCreateWindow(w, h, title.c_str(), nullptr, nullptr);
    if (window_ == nullptr) {
      error = "cannot create an OpenGL 3.3 window (" + g_glfw_error + ")";
      return false;
    }
    if (fit && ww > 0) glfwSetWindowPos(window_, wx, wy);
    if (fullscreen) set_fullscreen(true);
    glfwMakeContextCurrent(window_);
    pin_gl_driver_for_leak_checks();
    glfwSwapInterval(script_mode ? 0 : 1);
    // Ours first: the ImGui backend chains to callbacks installed before it.
    glfwSetCursorPosCallback(window_, [](GLFWwindow*, double, double) { note_input(); });
    glfwSetMouseButtonCallback(window_, [](GLFWwindow*, int, int, int) { note_input(); });
    glfwSetScrollCallback(window_, [](GLFWwindow*, double, double) { note_input(); });
    glfwSetKeyCallback(window_, [](GLFWwindow*, int, int, int, int) { note_input(); });
    glfwSetCharCallback(window_, [](GLFWwindow*, unsigned int) { note_input(); });
    glfwSetWindowSizeCallback(window_, [](GLFWwindow*, int, int) { note_input(); });
    glfwSetWindowRefreshCallback(window_, [](GLFWwindow*) { note_input(); });

    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    imgui_ = true;
    ImGuiIO& io = ImGui::GetIO();
    // Layout lives in the config dir, never in the working directory; scripted
    // runs use none so screenshots do not depend on what a user dragged.
    ini_path_.clear();
    if (!script_mode) {
      auto dir = config_dir();
      if (!dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        ini_path_ = (dir / "imgui.ini").string();
      }
    }
    io.IniFilename = ini_path_.empty() ? nullptr : ini_path_.c_str();
    io.ConfigWindowsMoveFromTitleBarOnly = true;
    // A scripted run ignores the pointer: whatever Xvfb's cursor hovers must
    // not put a tooltip into the screenshot.
    if (script_mode) io.ConfigFlags |= ImGuiConfigFlags_NoMouse;
    ImGui_ImplGlfw_InitForOpenGL(window_, true);
    ImGui_ImplOpenGL3_Init("#version 330 core");
    float sx = 1.0f, sy = 1.0f;
    glfwGetWindowContentScale(window_, &sx, &sy);
    scale_ = std::clamp(std::max(sx, sy), 1.0f, 4.0f);
    return true;
  }

  ~Window() {
    if (imgui_) {
      ImGui_ImplOpenGL3_Shutdown();
      ImGui_ImplGlfw_Shutdown();
      ImGui::DestroyContext();
    }
    if (window_ != nullptr) glfwDestroyWindow(window_);
    if (glfw_) glfwTerminate();
  }

  // Fonts and theme, between frames.
  void apply(AppUi& ui, bool force) {
    if (force || ui.font_changed) {
      load_fonts(ui.font_px, scale_);
      ImGui_ImplOpenGL3_DestroyFontsTexture();
      ImGui_ImplOpenGL3_CreateFontsTexture();
      ui.font_changed = false;
    }
    if (force || ui.theme_changed) {
      style::apply_theme(ui.theme, scale_);
      ui.theme_changed = false;
    }
  }

  // Full screen on the window's monitor (the primary one) and back to the
  // size and place it had.
  void set_fullscreen(bool on) {
    if (on == fullscreen()) return;
    if (on) {
      GLFWmonitor* monitor = glfwGetPrimaryMonitor();
      const GLFWvidmode* mode = monitor != nullptr ? glfwGetVideoMode(monitor) : nullptr;
      if (mode == nullptr) return;
      glfwGetWindowPos(window_, &saved_x_, &saved_y_);
      glfwGetWindowSize(window_, &saved_w_, &saved_h_);
      glfwSetWindowMonitor(window_, monitor, 0, 0, mode->width, mode->height, mode->refreshRate);
    } else {
      glfwSetWindowMonitor(window_, nullptr, saved_x_, saved_y_, saved_w_, saved_h_, 0);
    }
  }
  bool fullscreen() const { return window_ != nullptr && glfwGetWindowMonitor(window_) != nullptr; }

  // Keyboard shortcuts live in the shell: key codes are GLFW's in ImGui 1.86.
  void shortcuts(AppUi& ui) {
    ImGuiIO& io = ImGui::GetIO();
    if (ui.fullscreen_requested) {
      ui.fullscreen_requested = false;
      set_fullscreen(!fullscreen());
    }
    if (!io.KeyCtrl && !io.KeyAlt && !io.WantTextInput) {
      if (ImGui::IsKeyPressed(GLFW_KEY_F5, false)) ui.toggle_present();
      if (ImGui::IsKeyPressed(GLFW_KEY_F11, false)) set_fullscreen(!fullscreen());
    }
    if (!io.KeyCtrl) return;
    if (ImGui::IsKeyPressed(GLFW_KEY_EQUAL) || ImGui::IsKeyPressed(GLFW_KEY_KP_ADD)) ui.change_font(2.0f);
    if (ImGui::IsKeyPressed(GLFW_KEY_MINUS) || ImGui::IsKeyPressed(GLFW_KEY_KP_SUBTRACT)) ui.change_font(-2.0f);
    if (ImGui::IsKeyPressed(GLFW_KEY_0)) ui.set_font(kDefaultFontPx);
    if (ImGui::IsKeyPressed(GLFW_KEY_Q)) ui.quit_requested = true;
  }

  void begin_frame() {
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
  }

  void render() {
    ImGui::Render();
    int w = 0, h = 0;
    glfwGetFramebufferSize(window_, &w, &h);
    glViewport(0, 0, w, h);
    ImVec4 bg = style::current_theme() == style::Theme::dark ? ImVec4(0.08f, 0.09f, 0.11f, 1.0f)
                                                              : ImVec4(0.92f, 0.93f, 0.95f, 1.0f);
    glClearColor(bg.x, bg.y, bg.z, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  }

  // Reads the back buffer just rendered and writes it as PNG: the whole
  // window, or `crop` (window coordinates) of it.
  bool write_png(const std::string& path, std::string& error, const Rect* crop = nullptr) {
    int fw = 0, fh = 0;
    glfwGetFramebufferSize(window_, &fw, &fh);
    if (fw <= 0 || fh <= 0) {
      error = "the window has no framebuffer";
      return false;
    }
    int x = 0, y = 0, w = fw, h = fh;
    if (crop) {
      int ww = 0, wh = 0;
      glfwGetWindowSize(window_, &ww, &wh);
      const float sx = ww > 0 ? static_cast<float>(fw) / static_cast<float>(ww) : 1.0f;
      const float sy = wh > 0 ? static_cast<float>(fh) / static_cast<float>(wh) : 1.0f;
      x = std::clamp(static_cast<int>(crop->x * sx), 0, fw);
      const int top = std::clamp(static_cast<int>(crop->y * sy), 0, fh);
      w = std::clamp(static_cast<int>(crop->w * sx), 0, fw - x);
      h = std::clamp(static_cast<int>(crop->h * sy), 0, fh - top);
      y = fh - top - h;  // GL counts rows from the bottom
      if (w <= 0 || h <= 0) {
        error = "nothing to write: the charts are not on screen";
        return false;
      }
    }
    std::vector<unsigned char> pixels(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 4);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadBuffer(GL_BACK);
    glReadPixels(x, y, w, h, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
    // GL's origin is bottom-left, PNG's top-left; and the window is opaque.
    std::vector<unsigned char> rgb(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
    for (int y = 0; y < h; ++y) {
      const unsigned char* src = &pixels[static_cast<std::size_t>(h - 1 - y) * static_cast<std::size_t>(w) * 4];
      unsigned char* dst = &rgb[static_cast<std::size_t>(y) * static_cast<std::size_t>(w) * 3];
      for (int x = 0; x < w; ++x) {
        dst[x * 3 + 0] = src[x * 4 + 0];
        dst[x * 3 + 1] = src[x * 4 + 1];
        dst[x * 3 + 2] = src[x * 4 + 2];
      }
    }
    return write_png_file(path, w, h, rgb.data(), error);
  }

  void swap() { glfwSwapBuffers(window_); }
  bool should_close() const { return glfwWindowShouldClose(window_) != 0; }
  void size(int& w, int& h) const { glfwGetWindowSize(window_, &w, &h); }
  float scale() const { return scale_; }

  // Idle policy: up to 60 fps while data flows or something animates, a slow
  // tick (ages, rates) while the lab runs quietly, nearly nothing when idle.
  // A script draws no more frames than it uses: while it waits (wait ms,
  // wait children, a comparison, an export) four a second, whatever moves,
  // so a 15 s wait costs a few percent of a core instead of a core and a
  // half; otherwise (a screenshot settling, commands in a row) 30 a second.
  void wait(bool hot, bool live, bool script_waiting = false) {
    if (script_mode_) {
      glfwWaitEventsTimeout(script_waiting ? 0.25 : 1.0 / 30.0);
      (void)hot;
      (void)live;
      return;
    }
    // Idle (no server, nothing moving): only input wakes us; the 5 s tick is a
    // safety net. Under Xvfb's software GL each frame costs ~30 ms of CPU, so a
    // 2 Hz idle tick alone was 6% of a core.
    double timeout = hot ? 1.0 / 60.0 : (live ? 0.5 : 5.0);
    if (g_input_frames.load() > 0) {
      g_input_frames.fetch_sub(1);
      timeout = 1.0 / 60.0;
    }
    glfwWaitEventsTimeout(timeout);
  }

 private:
  GLFWwindow* window_ = nullptr;
  bool glfw_ = false;
  bool imgui_ = false;
  bool script_mode_ = false;
  float scale_ = 1.0f;
  std::string ini_path_;
  int saved_x_ = 0, saved_y_ = 0, saved_w_ = 1600, saved_h_ = 900;
};

// ---- 3. the frame loop ----------------------------------------------------------

struct Prepared {
  Settings settings;
  bool fullscreen = false;
  std::filesystem::path dir;
  std::optional<ScriptRunner> script;
};

// Settings + command-line overrides + the script (parsed before anything runs).
int prepare(const GuiOptions& o, Prepared& p) {
  const bool script_mode = !o.script.empty();
  p.dir = config_dir();
  if (!script_mode) p.settings = load_settings(p.dir);
  p.fullscreen = o.fullscreen;
  if (o.font_px > 0.0f) p.settings.font_px = o.font_px;
  if (!o.theme.empty() && !style::theme_from_name(o.theme, p.settings.theme)) {
    std::cerr << "sockscope: --theme must be dark or light, not '" << o.theme << "'\n";
    return 2;
  }
  if (o.width > 0 && o.height > 0) {
    p.settings.window_w = o.width;
    p.settings.window_h = o.height;
  }
  p.settings.font_px = std::clamp(p.settings.font_px, kMinFontPx, kMaxFontPx);
  // 0 x 0: the first start (or a script without --geometry): fit the screen.
  if (p.settings.window_w > 0 && p.settings.window_h > 0) {
    p.settings.window_w = std::clamp(p.settings.window_w, kMinWindowW, 8192);
    p.settings.window_h = std::clamp(p.settings.window_h, kMinWindowH, 8192);
  }
  if (script_mode) {
    std::ifstream in(o.script);
    if (!in) {
      std::cerr << "sockscope: cannot read script " << o.script << "\n";
      return 2;
    }
    std::string error;
    auto commands = parse_script(in, o.script, error);
    if (!commands) {
      std::cerr << "sockscope: " << error << "\n";
      return 2;
    }
    p.script.emplace(std::move(*commands), o.script, o.screenshot);
  } else if (!o.screenshot.empty()) {
    // Without a script: one screenshot of the default lesson, then exit.
    ScriptCommand shot, quit;
    shot.op = ScriptCommand::Op::screenshot;
    quit.op = ScriptCommand::Op::quit;
    p.script.emplace(std::vector<ScriptCommand>{shot, quit}, "--screenshot", o.screenshot);
  }
  return 0;
}

// Runs frames until quit. `draw` draws one frame's views and returns whether
// the session changed since last frame (or something animates).
template <class DrawFrame>
int frame_loop(Window& window, AppUi& ui, Prepared& p, LabController* lab, DrawFrame&& draw) {
  window.apply(ui, true);
  int exit_code = 0;
  bool hot = true;
  while (!g_stop_requested.load() && !window.should_close() && !ui.quit_requested) {
    window.wait(hot, lab != nullptr && lab->running(), p.script && p.script->waiting());
    window.apply(ui, false);
    ui.tick(lab);  // the lesson's verbs and queries, outside the session's lock
    if (p.script) {
      p.script->step(lab, ui);
      if (p.script->finished()) {
        exit_code = p.script->exit_code();
        if (!p.script->error().empty()) std::cerr << "sockscope: " << p.script->error() << "\n";
        break;
      }
      window.apply(ui, false);
    }
    window.begin_frame();
    window.shortcuts(ui);
    hot = draw();
    window.render();
    if (std::string png = ui.due_png(); !png.empty()) {
      std::string error;
      bool ok = window.write_png(png, error);
      ui.png_written(ok, ok ? png : error);
    }
    if (auto png = ui.due_compare_png()) {
      std::string error;
      bool ok = window.write_png(png->path, error, &png->crop);
      ui.compare_png_written(ok, ok ? png->path : error);
    }
    if (p.script && !p.script->screenshot_request().empty()) {
      std::string error;
      bool ok = window.write_png(p.script->screenshot_request(), error);
      p.script->screenshot_done(ok, error);
    }
    window.swap();
  }
  return exit_code;
}

void save_on_exit(const Window& window, const AppUi& ui, Prepared& p, bool script_mode) {
  if (script_mode) return;
  p.settings.font_px = ui.saved_font_px();
  p.settings.theme = ui.theme;
  p.settings.layout = std::string(layout_name(ui.working_layout()));
  p.settings.controls_collapsed = ui.controls_collapsed();
  p.settings.lessons = ui.lesson_progress;
  // Full screen is the monitor's size, not the window's: keep the last one.
  if (!window.fullscreen()) window.size(p.settings.window_w, p.settings.window_h);
  save_settings(p.dir, p.settings);
}

void apply_settings(AppUi& ui, const Settings& s) {
  ui.font_px = s.font_px;
  ui.theme = s.theme;
  ui.set_layout(layout_from_name(s.layout).value_or(AppUi::Layout::overview));
  ui.set_controls_collapsed(s.controls_collapsed);
  ui.lesson_progress = s.lessons;
}

bool open_window(Window& window, const Prepared& p, const std::string& title, bool script_mode) {
  if (!have_display_env()) {
    std::cerr << "sockscope: no display (DISPLAY and WAYLAND_DISPLAY are unset)" << kHeadless << "\n";
    return false;
  }
  std::string error;
  if (!window.open(p.settings.window_w, p.settings.window_h, p.fullscreen, title, script_mode, error)) {
    std::cerr << "sockscope: no display: " << error << kHeadless << "\n";
    return false;
  }
  return true;
}

}  // namespace

// ---- 4. entry points --------------------------------------------------------------


int run_gui(const GuiOptions& o) {
  Prepared p;
  if (int rc = prepare(o, p); rc != 0) return rc;
  const bool script_mode = p.script.has_value();
  std::uint16_t port = find_free_port(o.port > 0 ? static_cast<std::uint16_t>(o.port) : kDefaultLessonPort);
  if (port == 0) {
    std::cerr << "sockscope: no free port at or above " << (o.port > 0 ? o.port : kDefaultLessonPort) << "\n";
    return 1;
  }
  Window window;
  if (!open_window(window, p, "sockscope", script_mode)) return 1;
  install_signal_handlers();

  AppUi ui;
  ui.font_px = p.settings.font_px;
  ui.theme = p.settings.theme;
  apply_settings(ui, p.settings);
  int exit_code = 0;
  {
    // The lab lives on this (the UI) thread for the whole window: its exec'd
    // servers carry PR_SET_PDEATHSIG tied to the thread that started them.
    lab::LabOptions lab_options;
    std::optional<lab::Lab> lab_storage;
    try {
      lab_storage.emplace(lab_options);
    } catch (const std::exception& e) {
      // No memory for the ring (or a file size limit on it): say so, exit 1.
      std::cerr << "sockscope: cannot start the lab: " << e.what() << "\n";
      return 1;
    }
    lab::Lab& lab = *lab_storage;
    LabController controller(lab);
    controller.spec().port = port;
    // Destroyed before the controller: it cancels a comparison in flight.
    CompareRun compare_run(controller);
    ui.set_compare_run(&compare_run);
    // A lesson named on the command line opens at its first step; the first
    // launch without one opens the list of lessons.
    if (!o.lesson.empty()) {
      std::string error;
      auto path = lesson::resolve_lesson(o.lesson, error);
      if (!path || !ui.open_lesson(*path, error)) {
        std::cerr << "sockscope: " << error << "\n";
        return 2;
      }
    } else if (!script_mode && !p.settings.start_here_seen) {
      ui.open_start_here();
    }
    if (!script_mode) p.settings.start_here_seen = true;
    std::uint64_t last_generation = ~std::uint64_t{0};
    // File → Open shows a recording in place of the lab (which keeps running)
    // until File → Back to the live lab.
    std::optional<session::Session> recording;
    exit_code = frame_loop(window, ui, p, &controller, [&] {
      if (ui.opened_session) {
        recording = std::move(ui.opened_session);
        ui.opened_session.reset();
        ui.timeline().set_instant(std::nullopt);
        ui.can_return_to_lab = true;
      }
      if (ui.return_to_lab_requested) {
        recording.reset();
        ui.return_to_lab_requested = false;
        ui.can_return_to_lab = false;
        ui.timeline().set_instant(std::nullopt);
      }
      if (recording) {
        FrameContext ctx{*recording, recording->model(), recording->last_ns(), nullptr, ImGui::GetIO().Framerate};
        ui.draw(ctx);
        return ctx.wants_redraw;
      }
      bool hot = false;
      lab.session().read([&](const session::Session& s) {
        FrameContext ctx{s, s.model(), trace::now_ns(), &controller, ImGui::GetIO().Framerate};
        ui.draw(ctx);
        hot = ctx.wants_redraw || s.generation() != last_generation;
        last_generation = s.generation();
      });
      return hot;
    });
    ui.set_compare_run(nullptr);
    compare_run.cancel();
    controller.stop();
  }
  save_on_exit(window, ui, p, script_mode);
  return exit_code;
}

int run_gui_replay(const GuiOptions& o, session::Session recording, const std::string& title) {
  Prepared p;
  if (int rc = prepare(o, p); rc != 0) return rc;
  if (!o.script.empty()) {
    std::cerr << "sockscope: --script drives a live lab; it cannot run on a replay\n";
    return 2;
  }
  Window window;
  if (!open_window(window, p, "sockscope: " + title, p.script.has_value())) return 1;
  install_signal_handlers();
  AppUi ui;
  ui.font_px = p.settings.font_px;
  ui.theme = p.settings.theme;
  apply_settings(ui, p.settings);
  int rc = frame_loop(window, ui, p, nullptr, [&] {
    if (ui.opened_session) {  // File → Open: another recording replaces this one
      recording = std::move(*ui.opened_session);
      ui.opened_session.reset();
      ui.timeline().set_instant(std::nullopt);
    }
    FrameContext ctx{recording, recording.model(), recording.last_ns(), nullptr, ImGui::GetIO().Framerate};
    ui.draw(ctx);
    return ctx.wants_redraw;
  });
  save_on_exit(window, ui, p, p.script.has_value());
  return rc;
}

}  // namespace sockscope::app
