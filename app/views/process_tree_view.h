// The process tree: the server's subtree drawn as nodes and edges, from /proc
// samples joined with events. Layout (what goes where) is computed apart from
// drawing, so it can be tested and timed without a window.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include <imgui.h>

#include "frame.h"

namespace sockscope::app {

struct TreeMetrics {
  float node_w = 260.0f;
  float node_h = 100.0f;
  float pill_h = 28.0f;  // a client pill under the process that serves it
  float h_gap = 24.0f;
  float v_gap = 48.0f;
  float width = 1000.0f;  // available width: leaf rows wrap to it
};

struct TreeNode {
  pid_t pid = 0;
  int parent = -1;  // index into TreeLayout::nodes
  ImVec2 pos;       // top-left, relative to the canvas origin
  float alpha = 1.0f;  // < 1 while an exited process fades out
  float glow = 0.0f;   // > 0 just after it appeared
  bool exited = false;
};

struct TreePill {
  int node = -1;  // the serving process
  std::uint32_t conn = 0;
  std::uint32_t client_id = 0;  // 0 = external client (curl, nc)
  std::uint16_t peer_port = 0;
  ImVec2 pos;
  int more = 0;  // > 0: not one connection but "+N more" (a loop or thread server holds many)
};

struct TreeLayout {
  std::vector<TreeNode> nodes;
  std::vector<TreePill> pills;
  ImVec2 size;          // content size
  int hidden_exited = 0;  // exited processes not drawn
  bool animating = false;
};

// How long a new node glows and an exited one fades, in ns.
inline constexpr std::uint64_t kAppearNs = 600'000'000;
inline constexpr std::uint64_t kFadeNs = 2'000'000'000;

TreeLayout compute_tree_layout(const session::Model& model, pid_t root, std::uint64_t now_ns,
                               const TreeMetrics& metrics, bool show_exited);

struct ProcessTreeView {
  bool show_exited = false;
  bool compact = false;  // smaller nodes: pid and state only
  void draw(FrameContext& ctx);
};

}  // namespace sockscope::app
