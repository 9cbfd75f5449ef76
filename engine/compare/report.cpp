#include "compare/report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace sockscope::compare {

namespace {

using V = std::optional<double>;

template <typename T>
V num(T v) {
  return static_cast<double>(v);
}
V opt(const std::optional<std::uint64_t>& v) { return v ? V(static_cast<double>(*v)) : std::nullopt; }

// A row that never ran has nothing to show but its status.
bool ran(const Row& r) { return r.seconds > 0 || r.peak_processes > 0; }
// The /proc columns need a sample of the tree in the measured time.
bool sampled(const Row& r) { return r.samples > 0; }

const Column kColumns[] = {
    {"replies_per_s", "req/s", "replies the clients read per second (an FTP greeting is one)", 0, true, false,
     [](const Row& r) { return ran(r) ? num(r.replies_per_s) : V(); }},
    {"connections_per_s", "conn/s", "connections the clients opened per second", 0, false, false,
     [](const Row& r) { return ran(r) ? num(r.connections_per_s) : V(); }},
    {"p50_ms", "p50 ms", "median reply latency, as the clients measured it", 2, false, true,
     [](const Row& r) { return ran(r) ? num(r.p50_ms) : V(); }},
    {"p99_ms", "p99 ms", "99th percentile reply latency", 2, true, true,
     [](const Row& r) { return ran(r) ? num(r.p99_ms) : V(); }},
    {"max_ms", "max ms", "slowest reply", 1, false, true, [](const Row& r) { return ran(r) ? num(r.max_ms) : V(); }},
    {"refused", "refused", "connections turned away (421 / 503, or connect refused)", 0, false, true,
     [](const Row& r) { return ran(r) ? num(r.refused) : V(); }},
    {"errors", "errors", "client errors other than the run's end (timeouts, resets)", 0, false, true,
     [](const Row& r) { return ran(r) ? num(r.errors) : V(); }},
    {"starved", "starved", "connected, but no answer within the run's duration (waiting in a queue or the backlog)", 0, false, true,
     [](const Row& r) { return ran(r) ? num(r.starved) : V(); }},
    {"peak_processes", "procs", "most processes in the server's tree at once (/proc)", 0, true, true,
     [](const Row& r) { return sampled(r) ? num(r.peak_processes) : V(); }},
    {"peak_threads", "threads", "most threads in the server's tree at once (/proc)", 0, true, true,
     [](const Row& r) { return sampled(r) ? num(r.peak_threads) : V(); }},
    {"peak_open", "open", "most connections the server held at once (its sockets in /proc)", 0, false, false,
     [](const Row& r) { return sampled(r) ? num(r.peak_open) : V(); }},
    {"pss_mb", "PSS MB", "the tree's PSS when the most connections were open", 1, false, true,
     [](const Row& r) { return sampled(r) ? V(static_cast<double>(r.pss_kb) / 1024.0) : V(); }},
    {"pss_per_conn_kb", "PSS/conn KB", "anonymous PSS (heap, stacks, copied pages) then minus before the clients, per open connection", 1, true, true,
     [](const Row& r) { return r.peak_open ? num(r.pss_per_conn_kb) : V(); }},
    {"rss_per_conn_kb", "RSS/conn KB", "the same with RSS, which counts shared pages in every process", 1, false,
     true, [](const Row& r) { return r.peak_open ? num(r.rss_per_conn_kb) : V(); }},
    {"cpu_user_s", "user s", "CPU time in the program (wait4's rusage minus /proc at the start)", 2, false, true,
     [](const Row& r) { return ran(r) ? num(r.cpu_user_s) : V(); }},
    {"cpu_system_s", "sys s", "CPU time in the kernel on its behalf", 2, false, true,
     [](const Row& r) { return ran(r) ? num(r.cpu_system_s) : V(); }},
    {"cpu_s", "CPU s", "user + system", 2, true, true,
     [](const Row& r) { return ran(r) ? num(r.cpu_user_s + r.cpu_system_s) : V(); }},
    {"ctx_voluntary", "vol cs", "voluntary context switches: it waited (for a read, a lock)", 0, false, true,
     [](const Row& r) { return ran(r) ? num(r.ctx_voluntary) : V(); }},
    {"ctx_involuntary", "invol cs", "involuntary context switches: the scheduler took the CPU away", 0, false, true,
     [](const Row& r) { return ran(r) ? num(r.ctx_involuntary) : V(); }},
    {"forks", "forks", "fork events in the trace (ours only)", 0, false, true, [](const Row& r) { return opt(r.forks); }},
    {"execs", "execs", "exec events in the trace (ours only)", 0, false, true, [](const Row& r) { return opt(r.execs); }},
    {"threads_created", "spawned", "threads created, from the trace (ours only)", 0, false, true,
     [](const Row& r) { return opt(r.threads_created); }},
    {"ring_drops", "drops", "trace events lost because the ring was full (ours only)", 0, false, true,
     [](const Row& r) { return opt(r.ring_drops); }},
};

std::string with_commas(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (decimals > 0 || std::fabs(v) < 10000) return s;
  std::string out;
  std::size_t start = s[0] == '-' ? 1 : 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i > start && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

nlohmann::ordered_json options_json(const Result& r) {
  nlohmann::ordered_json o;
  o["archs"] = r.options.archs;
  o["references"] = r.options.references;
  o["protocol"] = r.options.protocol;
  o["clients"] = r.options.clients;
  o["scenario"] = r.options.scenario;
  o["duration_s"] = r.options.duration_s;
  o["trace"] = r.options.trace_both ? nlohmann::ordered_json("both") : nlohmann::ordered_json(r.options.trace);
  o["started_at"] = r.started_at;
  o["machine"] = r.machine;
  o["complete"] = r.complete;
  return o;
}

nlohmann::ordered_json row_json(const Row& row) {
  nlohmann::ordered_json j;
  j["server"] = row.server;
  j["reference"] = row.reference;
  j["clients"] = row.clients;
  j["scenario"] = row.scenario;
  j["protocol"] = row.protocol;
  j["trace"] = row.trace;
  j["status"] = row.status;
  j["complete"] = row.complete;
  j["seconds"] = row.seconds;
  j["samples"] = row.samples;
  j["replies"] = row.replies;
  j["connections"] = row.connections;
  for (const auto& c : columns()) {
    V v = c.value(row);
    if (v) j[std::string(c.key)] = *v;
    else j[std::string(c.key)] = nullptr;
  }
  j["pss_before_kb"] = row.pss_before_kb;
  j["pss_kb"] = row.pss_kb;
  j["pss_anon_before_kb"] = row.pss_anon_before_kb;
  j["pss_anon_kb"] = row.pss_anon_kb;
  j["rss_before_kb"] = row.rss_before_kb;
  j["rss_kb"] = row.rss_kb;
  return j;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string title_of(const Result& r) {
  const auto& o = r.options;
  std::string clients;
  for (int c : o.clients) clients += (clients.empty() ? "" : ", ") + std::to_string(c);
  char dur[32];
  std::snprintf(dur, sizeof dur, "%g", o.duration_s);
  return o.scenario + " scenario, " + o.protocol + ", " + clients + " clients, " + dur + " s each" +
         (o.trace_both ? ", ours traced and untraced" : o.trace ? "" : ", our servers untraced") + (r.machine.empty() ? "" : "; " + r.machine) +
         (r.started_at.empty() ? "" : "; " + r.started_at);
}

std::string statuses(const Result& r, const char* bullet) {
  std::string out;
  for (const auto& row : r.rows)
    if (row.status != "ok")
      out += bullet + row_label(row) + " with " + std::to_string(row.clients) + " clients: " + row.status + "\n";
  if (!r.complete) out += std::string(bullet) + "incomplete: the comparison was stopped before every row ran\n";
  return out;
}

}  // namespace

std::span<const Column> columns() { return kColumns; }

const Column* find_column(std::string_view key) {
  for (const auto& c : kColumns)
    if (c.key == key) return &c;
  return nullptr;
}

std::string describe(const Result& r) { return title_of(r); }

std::string row_label(const Row& r) {
  return r.server + (r.reference ? " (reference)" : r.trace ? "" : " untraced");
}

std::string cell_text(const Column& c, const Row& r) {
  V v = c.value(r);
  return v ? with_commas(*v, c.decimals) : std::string();
}

std::string text_table(const Result& r) {
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> head = {"server", "clients"};
  for (const auto& c : columns()) head.emplace_back(c.header);
  cells.push_back(head);
  for (const auto& row : r.rows) {
    std::vector<std::string> line = {row_label(row) + (row.status == "ok" ? "" : " *"), std::to_string(row.clients)};
    for (const auto& c : columns()) {
      std::string t = cell_text(c, row);
      line.push_back(t.empty() ? "-" : t);
    }
    cells.push_back(line);
  }
  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& line : cells)
    for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  std::string out = title_of(r) + "\n";
  for (const auto& line : cells) {
    for (std::size_t i = 0; i < line.size(); ++i) {
      std::string pad(width[i] - line[i].size(), ' ');
      out += i == 0 ? line[i] + pad : "  " + pad + line[i];
    }
    out += '\n';
  }
  out += statuses(r, "* ");
  return out;
}

std::string markdown(const Result& r) {
  std::string out = "Measured by `sockscope compare`: " + title_of(r) + ".\n\n| server | clients |";
  for (const auto& c : columns()) out += " " + std::string(c.header) + " |";
  out += "\n|---|--:|";
  for (std::size_t i = 0; i < columns().size(); ++i) out += "--:|";
  out += '\n';
  for (const auto& row : r.rows) {
    out += "| " + (row.reference ? row.server + " (ref)" : "**" + row.server + "**" + (row.trace ? "" : " untraced")) +
           (row.status == "ok" ? "" : " \\*") + " | " + std::to_string(row.clients) + " |";
    for (const auto& c : columns()) out += " " + cell_text(c, row) + " |";
    out += '\n';
  }
  std::string notes = statuses(r, "- \\* ");
  if (!notes.empty()) out += "\n" + notes;
  return out;
}

void write_csv(const Result& r, std::ostream& out) {
  out << "server,reference,clients,scenario,protocol,trace,status,complete,seconds,replies,connections";
  for (const auto& c : columns()) out << ',' << c.key;
  out << '\n';
  for (const auto& row : r.rows) {
    out << csv_field(row.server) << ',' << (row.reference ? "true" : "false") << ',' << row.clients << ','
        << csv_field(row.scenario) << ',' << row.protocol << ',' << (row.trace ? "true" : "false") << ','
        << csv_field(row.status) << ',' << (row.complete ? "true" : "false") << ',' << row.seconds << ','
        << row.replies << ',' << row.connections;
    for (const auto& c : columns()) {
      V v = c.value(row);
      out << ',';
      if (v) out << *v;
    }
    out << '\n';
  }
}

void write_json(const Result& r, std::ostream& out) {
  nlohmann::ordered_json j;
  j["compare"] = options_json(r);
  nlohmann::ordered_json cols = nlohmann::ordered_json::array();
  for (const auto& c : columns())
    cols.push_back({{"key", c.key}, {"header", c.header}, {"help", c.help}});
  j["columns"] = cols;
  j["rows"] = nlohmann::ordered_json::array();
  for (const auto& row : r.rows) j["rows"].push_back(row_json(row));
  out << j.dump(2) << '\n';
}

void write_jsonl(const Result& r, std::span<const std::string> sessions, std::ostream& out) {
  out << nlohmann::ordered_json{{"compare", options_json(r)}}.dump() << '\n';
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    const std::string* log = i < sessions.size() ? &sessions[i] : nullptr;
    std::size_t lines = log ? static_cast<std::size_t>(std::count(log->begin(), log->end(), '\n')) : 0;
    out << nlohmann::ordered_json{{"row", row_json(r.rows[i])}, {"session_lines", lines}}.dump() << '\n';
    if (log) out << *log;
  }
}

std::string_view export_extensions() { return ".md, .csv, .json, .jsonl"; }

bool write_by_extension(const Result& r, std::span<const std::string> sessions, const std::filesystem::path& path,
                        std::string& error) {
  const std::string ext = path.extension().string();
  if (ext != ".md" && ext != ".csv" && ext != ".json" && ext != ".jsonl") {
    error = path.string() + ": unknown extension '" + ext + "' (use " + std::string(export_extensions()) + ")";
    return false;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    error = path.string() + ": cannot open for writing: " + std::strerror(errno);
    return false;
  }
  if (ext == ".md") out << markdown(r);
  else if (ext == ".csv") write_csv(r, out);
  else if (ext == ".json") write_json(r, out);
  else write_jsonl(r, sessions, out);
  out.flush();
  if (!out) {
    error = path.string() + ": write failed: " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace sockscope::compare
