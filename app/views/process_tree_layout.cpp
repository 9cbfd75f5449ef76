// The process tree's layout: model -> node positions, pure (no drawing), so
// it can be tested and timed without a window.
#include "views/process_tree_view.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace sockscope::app {
namespace {

using session::ConnState;
using session::Model;
using session::ProcessRole;
using session::ProcessView;

// ---- 1. layout --------------------------------------------------------------

constexpr int kMaxPillsPerNode = 3;
constexpr std::size_t kMaxExitedShown = 200;

// When a process left the picture: reaped, or no longer in /proc, or exited.
std::uint64_t vanish_ns(const ProcessView& p) {
  if (p.reap_ns != 0) return p.reap_ns;
  if (p.gone_ns != 0) return p.gone_ns;
  return p.exit_ns;
}

bool is_exited(const ProcessView& p) { return !p.alive() && !p.zombie; }

struct LayoutBuilder {
  const Model& model;
  std::uint64_t now_ns;
  const TreeMetrics& m;
  bool show_exited;
  const TreeFoldOptions& fold;
  TreeLayout out;
  std::unordered_map<pid_t, std::vector<const ProcessView*>> kids;
  std::unordered_map<pid_t, int> pill_count;
  std::size_t exited_budget = kMaxExitedShown;
  const std::vector<const ProcessView*> no_kids{};

  bool visible(const ProcessView& p) {
    if (!is_exited(p)) return true;
    std::uint64_t gone = vanish_ns(p);
    bool fading = gone != 0 && now_ns >= gone && now_ns - gone < kFadeNs;
    if (fading) out.animating = true;
    if ((show_exited || fading) && exited_budget > 0) {
      --exited_budget;
      return true;
    }
    ++out.hidden_exited;
    return false;
  }

  void index() {
    // Newest first when budgeting exited processes: the recent ones matter.
    std::vector<const ProcessView*> order;
    order.reserve(model.processes.size());
    for (const auto& p : model.processes) {
      if (p.role == ProcessRole::client_sim) continue;
      order.push_back(&p);
    }
    std::vector<bool> keep(order.size(), false);
    for (std::size_t i = order.size(); i-- > 0;) keep[i] = visible(*order[i]);
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (keep[i]) kids[order[i]->ppid].push_back(order[i]);
    }
    for (const auto& c : model.connections) {
      if (c.state == ConnState::open && c.serving_pid != 0) ++pill_count[c.serving_pid];
    }
  }

  float pills_h(pid_t pid) {
    auto it = pill_count.find(pid);
    int n = it == pill_count.end() ? 0 : std::min(it->second, kMaxPillsPerNode);
    return n == 0 ? 0.0f : static_cast<float>(n) * (m.pill_h + 4.0f) + 6.0f;
  }

  const std::vector<const ProcessView*>& children(pid_t pid) {
    auto it = kids.find(pid);
    return it == kids.end() ? no_kids : it->second;
  }

  bool expanded(pid_t pid) const {
    return std::find(fold.expanded.begin(), fold.expanded.end(), pid) != fold.expanded.end();
  }

  // How many of `pid`'s children get a node of their own; the rest (if any)
  // share the last place, the folded node.
  std::size_t shown_children(pid_t pid) {
    const auto& ks = children(pid);
    if (fold.max_rows <= 0 || expanded(pid)) return ks.size();
    const std::size_t cap =
        static_cast<std::size_t>(per_row(std::numeric_limits<int>::max())) * static_cast<std::size_t>(fold.max_rows);
    return ks.size() <= cap ? ks.size() : std::max<std::size_t>(cap, 2) - 1;
  }
  // The places in `pid`'s children row(s): its children, a folded node, or
  // after an expanded parent's children the node that folds them again.
  std::size_t places(pid_t pid) {
    const auto& ks = children(pid);
    const std::size_t shown = shown_children(pid);
    const bool foldable = fold.max_rows > 0 && expanded(pid);
    return shown + (shown < ks.size() || foldable ? 1 : 0);
  }
  bool is_leaf_place(pid_t parent, std::size_t i) {
    const auto& ks = children(parent);
    return i >= shown_children(parent) || i >= ks.size() || is_leaf(ks[i]->pid);
  }

  bool is_leaf(pid_t pid) { return children(pid).empty(); }

  int per_row(std::size_t count) {
    int fit = static_cast<int>((m.width + m.h_gap) / (m.node_w + m.h_gap));
    return std::clamp(fit, 1, static_cast<int>(std::max<std::size_t>(count, 1)));
  }

  bool all_leaf_places(pid_t pid) {
    const std::size_t n = places(pid);
    for (std::size_t i = 0; i < n; ++i)
      if (!is_leaf_place(pid, i)) return false;
    return true;
  }

  float place_h(pid_t parent, std::size_t i) {
    const auto& ks = children(parent);
    return i < shown_children(parent) ? m.node_h + pills_h(ks[i]->pid) : m.node_h;
  }

  ImVec2 measure(pid_t pid, int depth) {
    const std::size_t n = places(pid);
    float self_h = m.node_h + pills_h(pid);
    if (n == 0 || depth > 32) return {m.node_w, self_h};
    if (all_leaf_places(pid)) {
      int cols = per_row(n);
      float rows_h = 0.0f;
      for (std::size_t i = 0; i < n; i += static_cast<std::size_t>(cols)) {
        float row_h = 0.0f;
        for (std::size_t j = i; j < std::min(n, i + static_cast<std::size_t>(cols)); ++j) {
          row_h = std::max(row_h, place_h(pid, j));
        }
        rows_h += row_h + (i == 0 ? 0.0f : m.v_gap * 0.5f);
      }
      float w = static_cast<float>(cols) * (m.node_w + m.h_gap) - m.h_gap;
      return {std::max(m.node_w, w), self_h + m.v_gap + rows_h};
    }
    const auto& ks = children(pid);
    float w = 0.0f, h = 0.0f;
    for (std::size_t i = 0; i < n; ++i) {
      ImVec2 s = i < shown_children(pid) ? measure(ks[i]->pid, depth + 1) : ImVec2(m.node_w, m.node_h);
      w += s.x + m.h_gap;
      h = std::max(h, s.y);
    }
    return {std::max(m.node_w, w - m.h_gap), self_h + m.v_gap + h};
  }

  // The folded node for `parent`'s children from `first` on (or, expanded,
  // the node that folds them again).
  void add_fold_node(pid_t parent, int parent_index, std::size_t first, ImVec2 pos) {
    const auto& ks = children(parent);
    TreeFolded f;
    f.parent = parent;
    for (std::size_t i = first; i < ks.size(); ++i) {
      const ProcessView& p = *ks[i];
      ++f.processes;
      if (p.zombie) ++f.zombies;
      else if (p.alive()) ++f.alive;
      else ++f.exited;
      if (!is_exited(p)) {
        f.pss_kb += p.pss_kb;
        f.rss_kb += p.rss_kb;
        f.threads += p.threads;
      }
    }
    TreeNode n;
    n.parent = parent_index;
    n.pos = pos;
    n.unfold = first >= ks.size();
    if (n.unfold) f.processes = static_cast<int>(ks.size());
    n.folded = static_cast<int>(out.folds.size());
    out.folds.push_back(f);
    out.nodes.push_back(n);
  }

  float appear_glow(const ProcessView& p) {
    std::uint64_t born = p.fork_ns != 0 ? p.fork_ns : p.first_seen_ns;
    if (born == 0 || now_ns < born || now_ns - born >= kAppearNs) return 0.0f;
    out.animating = true;
    return 1.0f - static_cast<float>(now_ns - born) / static_cast<float>(kAppearNs);
  }

  float fade_alpha(const ProcessView& p) {
    if (!is_exited(p)) return 1.0f;
    std::uint64_t gone = vanish_ns(p);
    if (gone == 0 || now_ns < gone) return 1.0f;
    if (now_ns - gone >= kFadeNs) return 0.35f;
    return 1.0f - 0.65f * static_cast<float>(now_ns - gone) / static_cast<float>(kFadeNs);
  }

  int add_node(const ProcessView& p, int parent, ImVec2 pos) {
    TreeNode n;
    n.pid = p.pid;
    n.parent = parent;
    n.pos = pos;
    n.exited = is_exited(p);
    n.alpha = fade_alpha(p);
    n.glow = appear_glow(p);
    out.nodes.push_back(n);
    int index = static_cast<int>(out.nodes.size()) - 1;
    float y = pos.y + m.node_h + 6.0f;
    auto total_it = pill_count.find(p.pid);
    const int total = total_it == pill_count.end() ? 0 : total_it->second;
    // Past the cap, the last pill stands for all the others.
    const int singles = total > kMaxPillsPerNode ? kMaxPillsPerNode - 1 : total;
    int shown = 0;
    for (const auto& c : model.connections) {
      if (shown == singles) break;
      if (c.state != ConnState::open || c.serving_pid != p.pid) continue;
      ++shown;
      out.pills.push_back(TreePill{index, c.id, c.client_id, c.peer_port, ImVec2(pos.x + m.node_w * 0.08f, y)});
      y += m.pill_h + 4.0f;
    }
    if (total > singles) {
      TreePill more{index, 0, 0, 0, ImVec2(pos.x + m.node_w * 0.08f, y)};
      more.more = total - singles;
      out.pills.push_back(more);
    }
    return index;
  }

  void place(const ProcessView& p, int parent, float x, float y, float w, int depth) {
    int self = add_node(p, parent, ImVec2(x + (w - m.node_w) * 0.5f, y));
    const auto& ks = children(p.pid);
    const std::size_t n = places(p.pid);
    const std::size_t shown = shown_children(p.pid);
    if (n == 0 || depth > 32) return;
    float cy = y + m.node_h + pills_h(p.pid) + m.v_gap;
    if (all_leaf_places(p.pid)) {
      int cols = per_row(n);
      float row_w = static_cast<float>(cols) * (m.node_w + m.h_gap) - m.h_gap;
      float x0 = x + (w - row_w) * 0.5f;
      for (std::size_t i = 0; i < n; i += static_cast<std::size_t>(cols)) {
        float row_h = 0.0f;
        std::size_t end = std::min(n, i + static_cast<std::size_t>(cols));
        for (std::size_t j = i; j < end; ++j) {
          ImVec2 at(x0 + static_cast<float>(j - i) * (m.node_w + m.h_gap), cy);
          if (j < shown) add_node(*ks[j], self, at);
          else add_fold_node(p.pid, self, shown < ks.size() ? shown : ks.size(), at);
          row_h = std::max(row_h, place_h(p.pid, j));
        }
        cy += row_h + m.v_gap * 0.5f;
      }
      return;
    }
    float total = 0.0f;
    std::vector<ImVec2> sizes;
    for (std::size_t i = 0; i < n; ++i) {
      sizes.push_back(i < shown ? measure(ks[i]->pid, depth + 1) : ImVec2(m.node_w, m.node_h));
      total += sizes.back().x + m.h_gap;
    }
    total -= m.h_gap;
    float cx = x + (w - total) * 0.5f;
    for (std::size_t i = 0; i < n; ++i) {
      if (i < shown) place(*ks[i], self, cx, cy, sizes[i].x, depth + 1);
      else add_fold_node(p.pid, self, shown < ks.size() ? shown : ks.size(), ImVec2(cx, cy));
      cx += sizes[i].x + m.h_gap;
    }
  }
};

}  // namespace

TreeLayout compute_tree_layout(const Model& model, pid_t root, std::uint64_t now_ns,
                               const TreeMetrics& metrics, bool show_exited, const TreeFoldOptions& fold) {
  LayoutBuilder b{model, now_ns, metrics, show_exited, fold, {}, {}, {}};
  const ProcessView* r = model.find_process(root);
  if (r == nullptr) return {};
  b.index();
  ImVec2 size = b.measure(root, 0);
  size.x = std::max(size.x, metrics.node_w);
  float x = std::max(0.0f, (metrics.width - size.x) * 0.5f);
  b.place(*r, -1, x, 0.0f, size.x, 0);
  b.out.size = ImVec2(std::max(size.x + x, metrics.width), size.y);
  return std::move(b.out);
}

}  // namespace sockscope::app

namespace sockscope::app {

TreeDetail choose_tree_detail(float fs, ImVec2 avail, int children) {
  const int row = std::clamp(children, 1, 4);
  for (TreeDetail d : {TreeDetail::full, TreeDetail::medium}) {
    const TreeMetrics m = tree_metrics(fs, d, avail.x);
    const float w = static_cast<float>(row) * (m.node_w + m.h_gap) - m.h_gap;
    const float h = m.node_h * 2.0f + m.v_gap + m.pill_h + 10.0f;
    if (w <= avail.x && h <= avail.y) return d;
  }
  return TreeDetail::compact;
}

}  // namespace sockscope::app
