// The process tree view.
//
// Sections: 1. layout (pure: model → positions)  2. node text  3. drawing.
#include "views/process_tree_view.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "views/style.h"

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

  bool is_leaf(pid_t pid) { return children(pid).empty(); }

  int per_row(std::size_t count) {
    int fit = static_cast<int>((m.width + m.h_gap) / (m.node_w + m.h_gap));
    return std::clamp(fit, 1, static_cast<int>(std::max<std::size_t>(count, 1)));
  }

  ImVec2 measure(pid_t pid, int depth) {
    const auto& ks = children(pid);
    float self_h = m.node_h + pills_h(pid);
    if (ks.empty() || depth > 32) return {m.node_w, self_h};
    bool all_leaves = std::all_of(ks.begin(), ks.end(), [&](auto* k) { return is_leaf(k->pid); });
    if (all_leaves) {
      int cols = per_row(ks.size());
      float rows_h = 0.0f;
      for (std::size_t i = 0; i < ks.size(); i += static_cast<std::size_t>(cols)) {
        float row_h = 0.0f;
        for (std::size_t j = i; j < std::min(ks.size(), i + static_cast<std::size_t>(cols)); ++j) {
          row_h = std::max(row_h, m.node_h + pills_h(ks[j]->pid));
        }
        rows_h += row_h + (i == 0 ? 0.0f : m.v_gap * 0.5f);
      }
      float w = static_cast<float>(cols) * (m.node_w + m.h_gap) - m.h_gap;
      return {std::max(m.node_w, w), self_h + m.v_gap + rows_h};
    }
    float w = 0.0f, h = 0.0f;
    for (auto* k : ks) {
      ImVec2 s = measure(k->pid, depth + 1);
      w += s.x + m.h_gap;
      h = std::max(h, s.y);
    }
    return {std::max(m.node_w, w - m.h_gap), self_h + m.v_gap + h};
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
    if (ks.empty() || depth > 32) return;
    float cy = y + m.node_h + pills_h(p.pid) + m.v_gap;
    bool all_leaves = std::all_of(ks.begin(), ks.end(), [&](auto* k) { return is_leaf(k->pid); });
    if (all_leaves) {
      int cols = per_row(ks.size());
      float row_w = static_cast<float>(cols) * (m.node_w + m.h_gap) - m.h_gap;
      float x0 = x + (w - row_w) * 0.5f;
      for (std::size_t i = 0; i < ks.size(); i += static_cast<std::size_t>(cols)) {
        float row_h = 0.0f;
        std::size_t end = std::min(ks.size(), i + static_cast<std::size_t>(cols));
        for (std::size_t j = i; j < end; ++j) {
          float cx = x0 + static_cast<float>(j - i) * (m.node_w + m.h_gap);
          add_node(*ks[j], self, ImVec2(cx, cy));
          row_h = std::max(row_h, m.node_h + pills_h(ks[j]->pid));
        }
        cy += row_h + m.v_gap * 0.5f;
      }
      return;
    }
    float total = 0.0f;
    std::vector<ImVec2> sizes;
    for (auto* k : ks) {
      sizes.push_back(measure(k->pid, depth + 1));
      total += sizes.back().x + m.h_gap;
    }
    total -= m.h_gap;
    float cx = x + (w - total) * 0.5f;
    for (std::size_t i = 0; i < ks.size(); ++i) {
      place(*ks[i], self, cx, cy, sizes[i].x, depth + 1);
      cx += sizes[i].x + m.h_gap;
    }
  }
};

}  // namespace

TreeLayout compute_tree_layout(const Model& model, pid_t root, std::uint64_t now_ns,
                               const TreeMetrics& metrics, bool show_exited) {
  LayoutBuilder b{model, now_ns, metrics, show_exited, {}, {}, {}};
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

namespace {

// ---- 2. node text -----------------------------------------------------------

std::string conn_label(const Model& model, const ProcessView& p) {
  for (auto it = p.conns.rbegin(); it != p.conns.rend(); ++it) {
    const auto* c = model.find_connection(*it);
    if (c == nullptr) continue;
    char buf[96];
    if (c->client_id != 0) {
      std::snprintf(buf, sizeof buf, "conn #%u \xc2\xb7 client %u", c->id, c->client_id);
    } else {
      std::snprintf(buf, sizeof buf, "conn #%u \xc2\xb7 external :%u", c->id, c->peer_port);
    }
    return buf;
  }
  return "no connection yet";
}

std::uint64_t born_ns(const ProcessView& p) { return p.fork_ns != 0 ? p.fork_ns : p.first_seen_ns; }

std::string age_label(const ProcessView& p, std::uint64_t now_ns) {
  std::uint64_t born = born_ns(p);
  std::uint64_t end = now_ns;
  if (p.exit_ns != 0) end = p.exit_ns;
  if (born == 0 || end < born) return "";
  return style::format_duration_ns(end - born);
}

void tooltip(const FrameContext& ctx, const ProcessView& p) {
  ImGui::BeginTooltip();
  ImGui::Text("pid %d  (parent %d)  %s", p.pid, p.ppid, std::string(session::role_name(p.role)).c_str());
  if (p.exec_ns != 0)
    ImGui::Text("exec'd %s: a new program in the forked child, same pid", p.image.c_str());
  if (p.request != 0) ImGui::Text("forked for request %u of its connection", p.request);
  ImGui::Separator();
  {
    style::MonoFont mono;
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 40.0f);
    ImGui::TextWrapped("%s", p.cmdline.empty() ? ("[" + p.comm + "]").c_str() : p.cmdline.c_str());
    ImGui::PopTextWrapPos();
  }
  ImGui::Text("state: %c %s%s", p.state, std::string(style::state_name(p.state)).c_str(),
              p.in_proc ? "" : "  (not in the last /proc sample)");
  ImGui::Text("threads: %d   open fds: %d   cpu: %.2f s", p.threads, p.fds, p.cpu_s);
  if (!p.tids.empty()) {
    std::string tids;
    for (std::size_t i = 0; i < p.tids.size() && i < 16; ++i) tids += std::to_string(p.tids[i]) + " ";
    if (p.tids.size() > 16) tids += "...";
    ImGui::Text("tids: %s", tids.c_str());
  }
  ImGui::Text("RSS %s   PSS %s", style::format_kb(p.rss_kb).c_str(), style::format_kb(p.pss_kb).c_str());
  ImGui::Text("events emitted: %llu", static_cast<unsigned long long>(p.events));
  if (!p.conns.empty()) {
    std::string list;
    for (auto c : p.conns) list += "#" + std::to_string(c) + " ";
    ImGui::Text("connections: %s", list.c_str());
  }
  if (p.exit_ns != 0) ImGui::Text("exit status: %lld", static_cast<long long>(p.exit_status));
  if (p.zombie) {
    style::text_colored(style::palette().bad, "Exited but not reaped: its parent has not called waitpid().");
  }
  if (p.reap_ns != 0) ImGui::Text("reaped %s ago", style::format_duration_ns(ctx.now_ns - std::min(ctx.now_ns, p.reap_ns)).c_str());
  ImGui::EndTooltip();
}

// ---- 3. drawing -------------------------------------------------------------

ImU32 with_alpha(ImU32 c, float alpha) {
  ImU32 a = static_cast<ImU32>(static_cast<float>((c >> IM_COL32_A_SHIFT) & 0xFF) * alpha);
  return (c & ~IM_COL32_A_MASK) | (a << IM_COL32_A_SHIFT);
}

}  // namespace

void ProcessTreeView::draw(FrameContext& ctx) {
  const Model& model = ctx.model;
  const auto& pal = style::palette();
  pid_t root = ctx.session.meta().server_pid;

  int alive_children = 0, zombies = 0;
  for (const auto& p : model.processes) {
    if (p.ppid != root || root == 0) continue;
    if (p.zombie) ++zombies;
    else if (p.alive()) ++alive_children;
  }
  char title[128];
  std::snprintf(title, sizeof title, "Process tree: %d children, %d zombies###process_tree", alive_children, zombies);
  if (ImGui::Begin(title)) {
    ImGui::Checkbox("Show exited", &show_exited);
    ImGui::SameLine();
    ImGui::Checkbox("Compact", &compact);
    ImGui::SameLine();
    style::help_marker(
        "Each box is a real process, read from /proc every 100 ms and joined with the "
        "server's trace events. Lines are parent -> child (fork). Pills under a box are the "
        "client connections it is serving. Hover a box for its command line, threads and fds.");

    const float fs = ImGui::GetFontSize();
    TreeMetrics m;
    m.node_w = compact ? fs * 7.5f : fs * 13.5f;
    m.node_h = compact ? fs * 2.9f : fs * 5.4f;
    m.pill_h = fs * 1.35f;
    m.h_gap = fs * 1.2f;
    m.v_gap = fs * 2.4f;
    m.width = std::max(ImGui::GetContentRegionAvail().x - fs, m.node_w);

    ImGui::BeginChild("##tree_canvas", ImVec2(0, 0), false, ImGuiWindowFlags_HorizontalScrollbar);
    if (root == 0 || model.find_process(root) == nullptr) {
      ImGui::TextDisabled(root == 0 ? "No server yet. Pick an architecture and press Start."
                                    : "Waiting for the first /proc sample of the server...");
    } else {
      TreeLayout layout = compute_tree_layout(model, root, ctx.now_ns, m, show_exited);
      if (layout.animating) ctx.wants_redraw = true;
      ImVec2 origin = ImGui::GetCursorScreenPos();
      origin.x += fs * 0.5f;
      origin.y += fs * 0.3f;
      ImGui::Dummy(ImVec2(layout.size.x + fs, layout.size.y + fs));
      ImDrawList* dl = ImGui::GetWindowDrawList();
      const float rounding = fs * 0.35f;
      const float pad = fs * 0.4f;
      ImFont* bold = style::fonts().bold != nullptr ? style::fonts().bold : ImGui::GetFont();

      // Edges first, so nodes cover their ends.
      for (const auto& n : layout.nodes) {
        if (n.parent < 0) continue;
        const auto& par = layout.nodes[static_cast<std::size_t>(n.parent)];
        ImVec2 a(origin.x + par.pos.x + m.node_w * 0.5f, origin.y + par.pos.y + m.node_h);
        ImVec2 b(origin.x + n.pos.x + m.node_w * 0.5f, origin.y + n.pos.y);
        float dy = (b.y - a.y) * 0.5f;
        dl->AddBezierCubic(a, ImVec2(a.x, a.y + dy), ImVec2(b.x, b.y - dy), b, with_alpha(pal.edge, n.alpha),
                           fs * 0.12f);
      }

      const ProcessView* hovered = nullptr;
      for (const auto& n : layout.nodes) {
        const ProcessView* p = model.find_process(n.pid);
        if (p == nullptr) continue;
        ImVec2 a(origin.x + n.pos.x, origin.y + n.pos.y);
        ImVec2 b(a.x + m.node_w, a.y + m.node_h);
        ImU32 fill = pal.node_fill;
        ImU32 text = pal.node_text;
        if (p->zombie) {
          fill = pal.zombie_fill;
          text = pal.zombie_text;
        } else if (n.exited) {
          fill = pal.exited_fill;
        } else if (p->role == ProcessRole::listener) {
          fill = pal.listener_fill;
        } else if (p->state == 'R') {
          fill = pal.running_fill;
        }
        if (p->role == ProcessRole::listener && style::current_theme() == style::Theme::dark) {
          text = IM_COL32(255, 255, 255, 255);
        }
        if (n.glow > 0.0f) {
          float g = fs * 0.5f * n.glow;
          dl->AddRectFilled(ImVec2(a.x - g, a.y - g), ImVec2(b.x + g, b.y + g), with_alpha(pal.new_glow, n.glow),
                            rounding + g);
        }
        dl->AddRectFilled(a, b, with_alpha(fill, n.alpha), rounding);
        // Its identity stripe: the colour of its cursor in the code view and
        // its lane in the flow diagram.
        dl->AddRectFilled(a, ImVec2(a.x + fs * 0.3f, b.y), with_alpha(style::identity_colour(model, p->pid, p->pid), n.alpha), rounding,
                          ImDrawFlags_RoundCornersLeft);
        dl->AddRect(a, b, with_alpha(p->zombie ? pal.zombie_text : pal.node_border, n.alpha), rounding, 0,
                    p->zombie ? fs * 0.2f : fs * 0.08f);
        ImU32 tc = with_alpha(text, std::max(n.alpha, 0.6f));
        const float line = fs * 1.2f;
        ImVec2 t(a.x + pad, a.y + pad * 0.7f);
        char buf[128];
        std::snprintf(buf, sizeof buf, "pid %d", p->pid);
        dl->AddText(bold, fs, t, tc, buf);
        // What it is: its role, or what makes it more than a copy of its
        // parent - a new program (inetd's handler) or one request (shotgun).
        std::string role(session::role_name(p->role));
        if (p->exec_ns != 0) role = "exec'd";
        else if (p->request != 0) role = "request " + std::to_string(p->request);
        ImVec2 role_size = ImGui::CalcTextSize(role.c_str());
        if (!compact) dl->AddText(ImVec2(b.x - pad - role_size.x, t.y), tc, role.c_str());
        t.y += line;
        if (p->zombie) {
          dl->AddText(bold, fs, t, tc, "ZOMBIE");
        } else if (n.exited) {
          std::snprintf(buf, sizeof buf, "exited %lld%s", static_cast<long long>(p->exit_status),
                        p->reap_ns != 0 ? ", reaped" : "");
          dl->AddText(t, tc, buf);
        } else {
          std::snprintf(buf, sizeof buf, "%c %s", p->state, std::string(style::state_name(p->state)).c_str());
          dl->AddText(t, tc, buf);
        }
        if (!compact) {
          std::string age = age_label(*p, ctx.now_ns);
          ImVec2 age_size = ImGui::CalcTextSize(age.c_str());
          dl->AddText(ImVec2(b.x - pad - age_size.x, t.y), tc, age.c_str());
          t.y += line;
          if (p->zombie) {
            // Its memory is gone; only the process-table entry (pid, exit status) remains.
            std::snprintf(buf, sizeof buf, "exited %lld, not reaped", static_cast<long long>(p->exit_status));
          } else {
            std::snprintf(buf, sizeof buf, "RSS %s  PSS %s", style::format_kb(p->rss_kb).c_str(),
                          style::format_kb(p->pss_kb).c_str());
          }
          dl->AddText(t, tc, buf);
          t.y += line;
          if (p->role == ProcessRole::listener) {
            std::snprintf(buf, sizeof buf, "listening :%u \xc2\xb7 %d fds", ctx.session.meta().port, p->fds);
            dl->AddText(t, tc, buf);
          } else {
            dl->AddText(t, tc, conn_label(model, *p).c_str());
          }
        }
        if (ImGui::IsWindowHovered() && ImGui::IsMouseHoveringRect(a, b)) hovered = p;
      }

      for (const auto& pill : layout.pills) {
        const auto& n = layout.nodes[static_cast<std::size_t>(pill.node)];
        ImVec2 a(origin.x + pill.pos.x, origin.y + pill.pos.y);
        ImVec2 b(a.x + m.node_w * 0.84f, a.y + m.pill_h);
        dl->AddLine(ImVec2(a.x - fs * 0.3f, origin.y + n.pos.y + m.node_h), ImVec2(a.x - fs * 0.3f, a.y + m.pill_h * 0.5f),
                    pal.conn_edge, fs * 0.1f);
        dl->AddLine(ImVec2(a.x - fs * 0.3f, a.y + m.pill_h * 0.5f), ImVec2(a.x, a.y + m.pill_h * 0.5f), pal.conn_edge,
                    fs * 0.1f);
        dl->AddRectFilled(a, b, pill.client_id != 0 ? pal.client_fill : pal.external_fill, m.pill_h * 0.5f);
        char buf[96];
        if (pill.more > 0) {
          std::snprintf(buf, sizeof buf, "+%d more connections", pill.more);
        } else if (pill.client_id != 0) {
          std::snprintf(buf, sizeof buf, "client %u  :%u", pill.client_id, pill.peer_port);
        } else {
          std::snprintf(buf, sizeof buf, "external :%u", pill.peer_port);
        }
        dl->AddText(ImVec2(a.x + fs * 0.5f, a.y + (m.pill_h - fs) * 0.5f), pal.pill_text, buf);
      }
      if (layout.hidden_exited > 0) {
        ImGui::TextDisabled("%d exited processes hidden (tick \"Show exited\")", layout.hidden_exited);
      }
      if (hovered != nullptr) tooltip(ctx, *hovered);
    }
    ImGui::EndChild();
  }
  ImGui::End();
}

}  // namespace sockscope::app
