// The process tree view.
//
// Sections: 2. node text  3. drawing (1. the layout is process_tree_layout.cpp).
#include "views/process_tree_view.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "servers/architecture.h"
#include "views/style.h"

namespace sockscope::app {
namespace {

using session::Model;
using session::ProcessRole;
using session::ProcessView;

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

namespace {

// "fd 3  listen :4481", "fd 5  :4481 - :53122  copy" (from /proc/PID/fd
// and /proc/net/tcp; a copy: another process holds the same socket).
std::string socket_line(const session::SocketView& s) {
  char buf[96];
  if (s.state == observe::TcpState::listen) {
    std::snprintf(buf, sizeof buf, "fd %d  listen :%u%s", s.fd, s.local_port, s.copy() ? "  shared" : "");
  } else {
    std::snprintf(buf, sizeof buf, "fd %d  :%u \xe2\x86\x94 :%u%s", s.fd, s.local_port, s.remote_port,
                  s.copy() ? "  copy" : "");
  }
  return buf;
}

constexpr int kMaxSocketLines = 4;

}  // namespace

nlohmann::json ProcessTreeView::drawn_json() const {
  nlohmann::json folds = nlohmann::json::array();
  for (const auto& f : drawn_folds_) {
    folds.push_back({{"parent", f.parent},
                     {"processes", f.processes},
                     {"alive", f.alive},
                     {"zombies", f.zombies},
                     {"exited", f.exited},
                     {"pss_kb", f.pss_kb},
                     {"rss_kb", f.rss_kb}});
  }
  const char* detail = detail_ == TreeDetail::full ? "full" : detail_ == TreeDetail::medium ? "medium" : "compact";
  return {{"detail", detail}, {"nodes", drawn_nodes_}, {"folded", folds}};
}

const session::PoolQueueView* ProcessTreeView::pool_queue(const FrameContext& ctx) {
  const std::uint64_t at = ctx.at_instant ? ctx.now_ns : ~std::uint64_t{0};
  if (pool_session_ != &ctx.session || pool_generation_ != ctx.session.generation() || pool_at_ns_ != at) {
    pool_fold_ = session::fold_threads(ctx.session, at);
    pool_session_ = &ctx.session;
    pool_generation_ = ctx.session.generation();
    pool_at_ns_ = at;
  }
  return pool_fold_.find_queue(ctx.session.meta().server_pid);
}

// A badge beside the node from `left` to `right` at height `y`: `text`, then
// one square per item waiting (up to 12) under it; its tooltip on hover. On
// the node's right, or its left when the window ends first; shortened to
// its count, then to the bare number, when neither side has room. Returns its
// bottom edge.
static float draw_badge(ImDrawList* dl, float left, float right, float y, const char* text, unsigned waiting,
                        const char* tip, float fs) {
  const float pad = fs * 0.4f;
  const float gap = fs * 0.4f;
  const float x0 = ImGui::GetWindowPos().x, x1 = x0 + ImGui::GetWindowWidth();
  auto width = [&](const char* t) {
    return std::max(ImGui::CalcTextSize(t).x + pad * 2.0f, fs * 0.8f * static_cast<float>(std::min(waiting, 12u)));
  };
  // Neither side has room (a narrow window): the count alone, "backlog 3";
  // the limit stays in the tooltip.
  std::string shown = text;
  auto fits = [&](const char* t) { return right + gap + width(t) <= x1 || left - gap - width(t) >= x0; };
  if (!fits(text))
    if (auto slash = shown.find(" /"); slash != std::string::npos) shown.resize(slash);
  // Narrower still (the compare layout's column): the number alone; the
  // tooltip says what it counts.
  if (!fits(shown.c_str()))
    if (auto space = shown.rfind(' '); space != std::string::npos) shown.erase(0, space + 1);
  text = shown.c_str();
  const float w = width(text);
  const ImVec2 sz = ImGui::CalcTextSize(text);
  const ImVec2 at(right + gap + w <= x1 || left - gap - w < x0 ? right + gap : left - gap - w, y);
  const ImVec2 bb(at.x + sz.x + pad * 2.0f, at.y + fs * 1.2f + pad);
  const ImU32 colour = waiting > 0 ? IM_COL32(200, 120, 40, 255) : IM_COL32(90, 100, 115, 255);
  dl->AddRectFilled(at, bb, colour, fs * 0.35f);
  dl->AddText(ImVec2(at.x + pad, at.y + pad * 0.5f), IM_COL32(255, 255, 255, 255), text);
  for (unsigned k = 0; k < std::min(waiting, 12u); ++k) {
    const float sx = at.x + static_cast<float>(k) * fs * 0.8f;
    dl->AddRectFilled(ImVec2(sx, bb.y + fs * 0.3f), ImVec2(sx + fs * 0.6f, bb.y + fs * 0.9f), colour, fs * 0.1f);
  }
  const float bottom = bb.y + (waiting > 0 ? fs * 1.1f : fs * 0.2f);
  if (ImGui::IsWindowHovered() && ImGui::IsMouseHoveringRect(at, ImVec2(bb.x, bottom))) ImGui::SetTooltip("%s", tip);
  return bottom;
}

void ProcessTreeView::draw(FrameContext& ctx) {
  const Model& model = ctx.model;
  const auto& pal = style::palette();
  const pid_t root = ctx.session.meta().server_pid;
  const std::uint16_t port = ctx.session.meta().port;
  const servers::Architecture* arch = servers::find_architecture(ctx.session.meta().architecture);
  const bool supervises = arch != nullptr && arch->has(servers::kPrestartedWorkers) && !arch->has(servers::kThreads);
  const bool pool = arch != nullptr && arch->has(servers::kPrestartedWorkers) && arch->has(servers::kThreads);

  int alive_children = 0, zombies = 0, processes = 0, threads = 0;
  std::uint64_t pss_kb = 0;
  for (const auto& p : model.processes) {
    if (p.role == ProcessRole::client_sim || root == 0 || !p.in_proc) continue;
    ++processes;
    threads += p.threads;
    pss_kb += p.pss_kb;
    if (p.ppid != root) continue;
    if (p.zombie) ++zombies;
    else if (p.alive()) ++alive_children;
  }
  char title[192];
  std::snprintf(title, sizeof title, "Process tree: %s, %s \xc2\xb7 %s, %s, %s PSS###process_tree",
                style::count_of(alive_children, "child", "children").c_str(),
                style::count_of(zombies, "zombie", "zombies").c_str(),
                style::count_of(processes, "process", "processes").c_str(),
                style::count_of(threads, "thread", "threads").c_str(), style::format_kb(pss_kb).c_str());
  drawn_nodes_ = 0;
  drawn_folds_.clear();
  if (!ImGui::Begin(title)) {
    ImGui::End();
    return;
  }
  // The toolbar wraps in a narrow window (the compare layout's column).
  auto box_w = [](const char* label) { return ImGui::GetFrameHeight() * 1.3f + ImGui::CalcTextSize(label).x; };
  ImGui::Checkbox("Show exited", &show_exited);
  style::same_line_if_fits(box_w("Sockets"));
  ImGui::Checkbox("Sockets", &show_sockets);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Each process's TCP sockets from /proc/PID/fd: the listening socket, its connections, and "
                      "\"copy\" where another process holds the same socket (a forked child inherits its "
                      "parent's descriptors until one of them closes its own).");
  style::same_line_if_fits(box_w("Compact"));
  ImGui::Checkbox("Compact", &compact);
  style::same_line_if_fits("(?)");
  style::help_marker(
      "Each box is a real process, read from /proc every 100 ms and joined with the "
      "server's trace events. Lines are parent -> child (fork). Pills under a box are the "
      "client connections it is serving. Many children fold into one box that counts them; "
      "click it to show them all. Hover a box for its command line, threads and fds.");

  const float fs = ImGui::GetFontSize();
  int root_children = 0;
  int max_sockets = 0;
  for (const auto& p : model.processes) {
    if (p.ppid == root && root != 0 && (p.alive() || p.zombie)) ++root_children;
    if (p.alive()) max_sockets = std::max(max_sockets, static_cast<int>(p.sockets.size()));
  }
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  detail_ = compact ? TreeDetail::compact : choose_tree_detail(fs, avail, root_children);
  TreeMetrics m = tree_metrics(fs, detail_, std::max(avail.x - fs, fs * 6.0f));
  const float line = fs * 1.2f;
  const int socket_lines = show_sockets ? std::min(max_sockets, kMaxSocketLines + 1) : 0;
  m.node_h += static_cast<float>(socket_lines) * line;
  if (show_sockets && detail_ == TreeDetail::compact) m.node_w = std::max(m.node_w, fs * 10.0f);
  // Rows of siblings that fit the window; the rest fold into one node.
  const float rows_room = avail.y - (m.node_h + m.v_gap + fs);
  TreeFoldOptions fold;
  fold.max_rows = std::max(1, static_cast<int>((rows_room + m.v_gap * 0.5f) / (m.node_h + m.pill_h + 4.0f + m.v_gap * 0.5f)));
  fold.expanded = expanded_;

  ImGui::BeginChild("##tree_canvas", ImVec2(0, 0), false, ImGuiWindowFlags_HorizontalScrollbar);
  if (root == 0 || model.find_process(root) == nullptr) {
    ImGui::TextWrapped("%s", root == 0 ? "No server yet. Pick an architecture and press Start."
                                       : "Waiting for the first /proc sample of the server...");
    ImGui::EndChild();
    ImGui::End();
    return;
  }
  TreeLayout layout = compute_tree_layout(model, root, ctx.now_ns, m, show_exited, fold);
  if (layout.animating) ctx.wants_redraw = true;
  drawn_nodes_ = layout.nodes.size();
  drawn_folds_ = layout.folds;
  ImVec2 origin = ImGui::GetCursorScreenPos();
  origin.x += fs * 0.5f;
  origin.y += fs * 0.3f;
  ImGui::Dummy(ImVec2(layout.size.x + fs, layout.size.y + fs));
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float rounding = fs * 0.35f;
  const float pad = fs * 0.4f;
  ImFont* bold = style::fonts().bold != nullptr ? style::fonts().bold : ImGui::GetFont();
  const bool full = detail_ == TreeDetail::full;
  const bool medium = detail_ == TreeDetail::medium;

  // Edges first, so nodes cover their ends.
  for (const auto& n : layout.nodes) {
    if (n.parent < 0) continue;
    const auto& par = layout.nodes[static_cast<std::size_t>(n.parent)];
    ImVec2 a(origin.x + par.pos.x + m.node_w * 0.5f, origin.y + par.pos.y + m.node_h);
    ImVec2 b(origin.x + n.pos.x + m.node_w * 0.5f, origin.y + n.pos.y);
    float dy = (b.y - a.y) * 0.5f;
    dl->AddBezierCubic(a, ImVec2(a.x, a.y + dy), ImVec2(b.x, b.y - dy), b, with_alpha(pal.edge, n.alpha), fs * 0.12f);
  }

  const ProcessView* hovered = nullptr;
  const TreeFolded* hovered_fold = nullptr;
  // Text that fits the node: cut with "..." rather than drawn over its edge.
  auto fit_text = [&](ImVec2 at, float right, ImU32 colour, const std::string& text, ImFont* font = nullptr) {
    ImFont* f = font != nullptr ? font : ImGui::GetFont();
    std::string shown = text;
    while (!shown.empty() && at.x + f->CalcTextSizeA(fs, FLT_MAX, 0.0f, shown.c_str()).x > right) {
      shown.pop_back();
      while (!shown.empty() && (static_cast<unsigned char>(shown.back()) & 0xC0) == 0x80) shown.pop_back();
      if (!shown.empty() && (static_cast<unsigned char>(shown.back()) & 0x80) != 0) shown.pop_back();
      if (shown.size() < text.size() && shown.size() > 1) {
        std::string dots = shown.substr(0, shown.size() - 1) + "\xe2\x80\xa6";
        if (at.x + f->CalcTextSizeA(fs, FLT_MAX, 0.0f, dots.c_str()).x <= right) {
          shown = dots;
          break;
        }
      }
    }
    dl->AddText(f, fs, at, colour, shown.c_str());
  };
  for (const auto& n : layout.nodes) {
    ImVec2 a(origin.x + n.pos.x, origin.y + n.pos.y);
    ImVec2 b(a.x + m.node_w, a.y + m.node_h);
    if (n.folded >= 0) {
      // A folded node: how many, how much memory, how many zombies.
      const TreeFolded& f = layout.folds[static_cast<std::size_t>(n.folded)];
      dl->AddRectFilled(a, b, pal.node_fill, rounding);
      for (int k = 2; k >= 1; --k) {  // the edge of a stack of boxes
        const float o = fs * 0.18f * static_cast<float>(k);
        dl->AddRect(ImVec2(a.x + o, a.y - o), ImVec2(b.x + o, b.y - o), pal.node_border, rounding, 0, fs * 0.06f);
      }
      dl->AddRect(a, b, f.zombies > 0 ? pal.zombie_text : pal.node_border, rounding, 0, fs * 0.1f);
      ImVec2 t(a.x + pad, a.y + pad * 0.7f);
      char buf[96];
      if (n.unfold) {
        std::snprintf(buf, sizeof buf, "fold %d", f.processes);
        fit_text(t, b.x - pad, pal.node_text, buf, bold);
        t.y += line;
        if (m.node_h > line * 2.2f) fit_text(t, b.x - pad, pal.node_text, "children again");
      } else {
        std::snprintf(buf, sizeof buf, "+%d children", f.processes);
        fit_text(t, b.x - pad, pal.node_text, buf, bold);
        t.y += line;
        if (m.node_h > line * 2.2f || detail_ == TreeDetail::compact) {
          std::snprintf(buf, sizeof buf, "%s PSS", style::format_kb(f.pss_kb).c_str());
          fit_text(t, b.x - pad, pal.node_text, buf);
          t.y += line;
        }
        if (f.zombies > 0 && t.y + line <= b.y) {
          fit_text(t, b.x - pad, pal.zombie_text, style::count_of(f.zombies, "zombie", "zombies").c_str(), bold);
        }
      }
      if (ImGui::IsWindowHovered() && ImGui::IsMouseHoveringRect(a, b)) {
        hovered_fold = &f;
        if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
          auto it = std::find(expanded_.begin(), expanded_.end(), f.parent);
          if (n.unfold && it != expanded_.end()) expanded_.erase(it);
          else if (!n.unfold && it == expanded_.end()) expanded_.push_back(f.parent);
        }
      }
      continue;
    }
    const ProcessView* p = model.find_process(n.pid);
    if (p == nullptr) continue;
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
      dl->AddRectFilled(ImVec2(a.x - g, a.y - g), ImVec2(b.x + g, b.y + g), with_alpha(pal.new_glow, n.glow), rounding + g);
    }
    dl->AddRectFilled(a, b, with_alpha(fill, n.alpha), rounding);
    // Its identity stripe: the colour of its cursor in the code view and
    // its lane in the flow diagram.
    dl->AddRectFilled(a, ImVec2(a.x + fs * 0.3f, b.y), with_alpha(style::identity_colour(model, p->pid, p->pid), n.alpha),
                      rounding, ImDrawFlags_RoundCornersLeft);
    dl->AddRect(a, b, with_alpha(p->zombie ? pal.zombie_text : pal.node_border, n.alpha), rounding, 0,
                p->zombie ? fs * 0.2f : fs * 0.08f);
    const ImU32 tc = with_alpha(text, std::max(n.alpha, 0.6f));
    const float right = b.x - pad;
    ImVec2 t(a.x + pad, a.y + pad * 0.7f);
    char buf[128];
    // What it is: its role, or what makes it more than a copy of its parent
    // - a new program (inetd's handler) or one request (shotgun).
    std::string role(session::role_name(p->role));
    if (p->exec_ns != 0) role = "exec'd";
    else if (p->request != 0) role = "request " + std::to_string(p->request);
    else if (p->role == ProcessRole::listener && supervises) role = "master";
    if (detail_ == TreeDetail::compact) std::snprintf(buf, sizeof buf, "%d", p->pid);
    else std::snprintf(buf, sizeof buf, "pid %d", p->pid);
    const float pid_w = bold->CalcTextSizeA(fs, FLT_MAX, 0.0f, buf).x;
    dl->AddText(bold, fs, t, tc, buf);
    if (!compact && detail_ != TreeDetail::compact) {
      const float role_w = ImGui::CalcTextSize(role.c_str()).x;
      if (t.x + pid_w + fs * 0.6f + role_w <= right) dl->AddText(ImVec2(right - role_w, t.y), tc, role.c_str());
    }
    t.y += line;
    if (p->zombie) {
      dl->AddText(bold, fs, t, tc, "ZOMBIE");
    } else if (n.exited) {
      std::snprintf(buf, sizeof buf, "exited %lld%s", static_cast<long long>(p->exit_status), p->reap_ns != 0 ? ", reaped" : "");
      fit_text(t, right, tc, buf);
    } else {
      std::snprintf(buf, sizeof buf, "%c %s", p->state, std::string(style::state_name(p->state)).c_str());
      fit_text(t, right, tc, buf);
    }
    if (full) {
      std::string age = age_label(*p, ctx.now_ns);
      const float age_w = ImGui::CalcTextSize(age.c_str()).x;
      dl->AddText(ImVec2(right - age_w, t.y), tc, age.c_str());
    }
    if (full || medium) {
      t.y += line;
      if (p->zombie) {
        // Its memory is gone; only the process-table entry (pid, exit status) remains.
        std::snprintf(buf, sizeof buf, "exited %lld, not reaped", static_cast<long long>(p->exit_status));
      } else if (full) {
        std::snprintf(buf, sizeof buf, "RSS %s  PSS %s", style::format_kb(p->rss_kb).c_str(), style::format_kb(p->pss_kb).c_str());
      } else {
        std::snprintf(buf, sizeof buf, "PSS %s", style::format_kb(p->pss_kb).c_str());
      }
      fit_text(t, right, tc, buf);
    }
    if (full) {
      t.y += line;
      if (p->role == ProcessRole::listener) {
        if (supervises) std::snprintf(buf, sizeof buf, "supervises \xc2\xb7 never accepts");
        else std::snprintf(buf, sizeof buf, "listening :%u \xc2\xb7 %d fds", port, p->fds);
        fit_text(t, right, tc, buf);
      } else {
        fit_text(t, right, tc, conn_label(model, *p));
      }
    }
    if (socket_lines > 0 && p->alive()) {
      style::MonoFont mono;
      int shown = 0;
      for (const auto& sock : p->sockets) {
        t.y += line;
        if (shown == kMaxSocketLines && p->sockets.size() > static_cast<std::size_t>(kMaxSocketLines + 1)) {
          std::snprintf(buf, sizeof buf, "+%zu more sockets", p->sockets.size() - kMaxSocketLines);
          fit_text(t, right, tc, buf, ImGui::GetFont());
          break;
        }
        fit_text(t, right, tc, socket_line(sock), ImGui::GetFont());
        ++shown;
      }
    }
    // The accept backlog, on the process that holds the listening socket:
    // connections the kernel has completed and nobody has accepted yet.
    float badge_y = a.y;
    if (p->pid == model.backlog.owner && !p->zombie) {
      const session::BacklogView& l = model.backlog;
      std::snprintf(buf, sizeof buf, "backlog %u / %u", l.depth, l.limit);
      char tip[512];
      std::snprintf(tip, sizeof tip,
                    "The listening socket's accept queue, from the kernel (/proc/net/tcp, Recv-Q):\n"
                    "%u connection(s) completed the TCP handshake and wait for someone to call accept();\n"
                    "%u is the most it holds (listen()'s backlog). No process runs for them yet.",
                    l.depth, l.limit);
      badge_y = draw_badge(dl, a.x, b.x, badge_y, buf, l.depth, tip, fs);
    }
    // A pool's own queue: accepted connections waiting for a worker thread.
    if (p->pid == root && pool && !p->zombie) {
      if (const session::PoolQueueView* q = pool_queue(ctx)) {
        if (q->capacity >= 0) std::snprintf(buf, sizeof buf, "queue %zu / %lld", q->depth(), static_cast<long long>(q->capacity));
        else std::snprintf(buf, sizeof buf, "queue %zu", q->depth());
        char tip[512];
        std::snprintf(tip, sizeof tip,
                      "The pool's queue, from its enqueue and dequeue events: %zu accepted connection(s) wait in\n"
                      "user space for one of %d worker threads (%d busy). Their clients are connected and\n"
                      "hear nothing until a worker takes them.",
                      q->depth(), q->workers, q->busy);
        draw_badge(dl, a.x, b.x, badge_y + fs * 0.3f, buf, static_cast<unsigned>(q->depth()), tip, fs);
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
    dl->AddLine(ImVec2(a.x - fs * 0.3f, a.y + m.pill_h * 0.5f), ImVec2(a.x, a.y + m.pill_h * 0.5f), pal.conn_edge, fs * 0.1f);
    dl->AddRectFilled(a, b, pill.client_id != 0 ? pal.client_fill : pal.external_fill, m.pill_h * 0.5f);
    char buf[96];
    if (pill.more > 0) {
      std::snprintf(buf, sizeof buf, "+%d more", pill.more);
    } else if (pill.client_id != 0) {
      std::snprintf(buf, sizeof buf, detail_ == TreeDetail::full ? "client %u  :%u" : "client %u", pill.client_id,
                    pill.peer_port);
    } else {
      std::snprintf(buf, sizeof buf, "external :%u", pill.peer_port);
    }
    fit_text(ImVec2(a.x + fs * 0.5f, a.y + (m.pill_h - fs) * 0.5f), b.x - fs * 0.3f, pal.pill_text, buf);
    if (ImGui::IsWindowHovered() && ImGui::IsMouseHoveringRect(a, b)) {
      ImGui::SetTooltip("%s", pill.more > 0 ? "More open connections served by this process (see the Connections window)."
                              : pill.client_id != 0
                                  ? "A connection from simulated client N (sockscope clients), from its local port."
                                  : "A connection from a client outside the lab (curl, nc, a browser), from its port.");
    }
  }
  if (layout.hidden_exited > 0) {
    ImGui::TextDisabled("%d exited processes hidden (tick \"Show exited\")", layout.hidden_exited);
  }
  if (hovered != nullptr) tooltip(ctx, *hovered);
  if (hovered_fold != nullptr) {
    ImGui::BeginTooltip();
    ImGui::Text("%d children of pid %d: %d alive, %s, %d exited", hovered_fold->processes, hovered_fold->parent,
                hovered_fold->alive, style::count_of(hovered_fold->zombies, "zombie", "zombies").c_str(),
                hovered_fold->exited);
    ImGui::Text("PSS %s together (RSS %s), %s", style::format_kb(hovered_fold->pss_kb).c_str(),
                style::format_kb(hovered_fold->rss_kb).c_str(),
                style::count_of(hovered_fold->threads, "thread", "threads").c_str());
    ImGui::TextDisabled("Click to show them all; the Totals window charts how they grew.");
    ImGui::EndTooltip();
  }
  ImGui::EndChild();
  ImGui::End();
}

}  // namespace sockscope::app
