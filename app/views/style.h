// The house style: colours, fonts and the few small widgets every view shares,
// so views do not repeat push/pop sequences or invent their own palette.
//
// Colours depend on the theme (dark/light): a projector washes out pale
// colours, so every state colour is picked to stay distinct on both.
#pragma once

#include <imgui.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "session/session.h"
#include "window_verbs.h"

namespace sockscope::app::style {

// The palette of the current theme.
struct Palette {
  ImU32 node_fill;       // a live process
  ImU32 node_border;
  ImU32 node_text;
  ImU32 listener_fill;   // the server process (root of the tree)
  ImU32 running_fill;    // state R: on a CPU right now
  ImU32 zombie_fill;     // state Z: exited, not reaped
  ImU32 zombie_text;
  ImU32 exited_fill;     // exited and reaped (fading out)
  ImU32 client_fill;     // a client (simulated or external)
  ImU32 external_fill;   // an external client (curl, nc)
  ImU32 pill_text;       // text on client pills
  ImU32 edge;            // parent → child
  ImU32 conn_edge;       // client → serving process
  ImU32 new_glow;        // the flash around a node that just appeared
  ImVec4 ok;             // text colours
  ImVec4 warn;
  ImVec4 bad;
  ImVec4 dim;
};

void apply_theme(Theme theme, float ui_scale);
Theme current_theme();
const Palette& palette();

// Fonts registered by the shell (fonts.cpp); nullptr falls back to the default.
struct Fonts {
  ImFont* regular = nullptr;
  ImFont* bold = nullptr;
  ImFont* mono = nullptr;
};
Fonts& fonts();

// Pushes the monospace font for the scope's lifetime (commands, pids, logs).
class MonoFont {
 public:
  MonoFont();
  ~MonoFont();
  MonoFont(const MonoFont&) = delete;
  MonoFont& operator=(const MonoFont&) = delete;

 private:
  bool pushed_;
};

// Text in a colour, as one call.
void text_colored(const ImVec4& colour, const char* fmt, ...) IM_FMTARGS(2);
// A read-only command line with a Copy button next to it.
void copyable_command(const char* id, const std::string& command);
// "(?)" that shows `text` on hover.
void help_marker(const char* text);
// SameLine() when an item `width` wide (or the text `next`) still fits after
// the last item, else a new line: controls and sentences wrap in a narrow
// window (a projector's layout) instead of running off its right edge.
void same_line_if_fits(float width);
void same_line_if_fits(const std::string& next);

// A count and its noun: "1 process", "3 processes", "0 zombies".
std::string count_of(std::uint64_t n, const char* one, const char* many);
// Human sizes and durations: "3.1 MB", "820 KB", "4.2 s", "310 ms".
std::string format_kb(std::uint64_t kb);
std::string format_duration_ns(std::uint64_t ns);
// A steady colour per process or thread, the same wherever it appears: the
// stripe on its node in the process tree, its cursor in the code view, its
// lane in the flow diagram. A process's hue follows its order of appearance
// in the session (golden-ratio steps round the wheel, so the processes that
// appear one after another, a fork's children, get far apart hues; a replay
// gives each the same hue). A thread other than the main one steps on from
// its process by its tid's distance from the pid. The brightness suits the
// theme's background.
ImU32 identity_colour(const session::Model& model, pid_t pid, pid_t tid);
// A steady colour per series (an architecture's bars and lines in the
// Compare window): golden-ratio hues by index, bright enough for the theme.
ImU32 series_colour(std::size_t index);

// Colour for a /proc state letter (R S D Z T X ...).
ImVec4 state_colour(char state);
// "running", "sleeping", "disk wait", "ZOMBIE", "gone" ...
std::string_view state_name(char state);

}  // namespace sockscope::app::style
