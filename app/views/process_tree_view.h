// The process tree: the server's subtree drawn as nodes and edges, from /proc
// samples joined with events. Layout (what goes where) is computed apart from
// drawing, so it can be tested and timed without a window.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include <imgui.h>

#include <nlohmann/json.hpp>

#include "frame.h"
#include "session/threads_fold.h"
#include "views/tree_metrics.h"

namespace sockscope::app {

// Siblings past what fits are folded into one node that stands for them.
struct TreeFolded {
  pid_t parent = 0;          // whose children these are
  int processes = 0;         // how many it stands for
  int alive = 0;
  int zombies = 0;
  int exited = 0;
  std::uint64_t pss_kb = 0;  // their PSS together
  std::uint64_t rss_kb = 0;
  int threads = 0;
};

struct TreeNode {
  pid_t pid = 0;  // 0: a folded node (see `folded`)
  int parent = -1;  // index into TreeLayout::nodes
  ImVec2 pos;       // top-left, relative to the canvas origin
  float alpha = 1.0f;  // < 1 while an exited process fades out
  float glow = 0.0f;   // > 0 just after it appeared
  bool exited = false;
  int folded = -1;  // index into TreeLayout::folds for a folded node
  bool unfold = false;  // the "fold them again" node after an expanded parent's children
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
  std::vector<TreeFolded> folds;
};

// How siblings fold: at most `max_rows` rows of them (0 = never fold), the
// last place taken by the folded node; the parents in `expanded` show all.
struct TreeFoldOptions {
  int max_rows = 0;
  std::vector<pid_t> expanded;
};

// How long a new node glows and an exited one fades, in ns.
inline constexpr std::uint64_t kAppearNs = 600'000'000;
inline constexpr std::uint64_t kFadeNs = 2'000'000'000;

TreeLayout compute_tree_layout(const session::Model& model, pid_t root, std::uint64_t now_ns,
                               const TreeMetrics& metrics, bool show_exited, const TreeFoldOptions& fold = {});

// The most detailed level at which the root and (up to four of) its
// `children` fit `avail` in one row, with a second row for their children;
// compact when none does.
TreeDetail choose_tree_detail(float fs, ImVec2 avail, int children);

struct ProcessTreeView {
  bool show_exited = false;
  bool compact = false;  // always the least detail: pid and state only
  bool show_sockets = false;  // each process's TCP sockets (/proc/PID/fd)
  void draw(FrameContext& ctx);
  // What the last frame drew: detail, nodes, folded nodes and their counts.
  nlohmann::json drawn_json() const;

 private:
  std::vector<pid_t> expanded_;  // parents whose folded children are shown
  TreeDetail detail_ = TreeDetail::full;
  std::size_t drawn_nodes_ = 0;
  std::vector<TreeFolded> drawn_folds_;
  // A pool server's queue (threads fold), refolded when the session moves.
  const session::PoolQueueView* pool_queue(const FrameContext& ctx);
  session::ThreadsModel pool_fold_;
  const session::Session* pool_session_ = nullptr;
  std::uint64_t pool_generation_ = ~std::uint64_t{0};
  std::uint64_t pool_at_ns_ = 0;
};

}  // namespace sockscope::app
