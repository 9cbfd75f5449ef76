#include "model_dump.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "session/flow.h"

namespace sockscope::app {

nlohmann::json model_to_json(const session::Session& s) {
  const session::Model& m = s.model();
  const auto& meta = s.meta();
  nlohmann::json procs = nlohmann::json::array();
  for (const auto& p : m.processes) {
    procs.push_back({{"pid", p.pid},
                     {"ppid", p.ppid},
                     {"role", std::string(session::role_name(p.role))},
                     {"state", std::string(1, p.state)},
                     {"alive", p.alive()},
                     {"zombie", p.zombie},
                     {"in_proc", p.in_proc},
                     {"threads", p.threads},
                     {"rss_kb", p.rss_kb},
                     {"pss_kb", p.pss_kb},
                     {"fds", p.fds},
                     {"conns", p.conns},
                     {"cmdline", p.cmdline}});
  }
  nlohmann::json conns = nlohmann::json::array();
  for (const auto& c : m.connections) {
    conns.push_back({{"id", c.id},
                     {"listener_pid", c.listener_pid},
                     {"serving_pid", c.serving_pid},
                     {"client_id", c.client_id},
                     {"peer_port", c.peer_port},
                     {"state", std::string(session::conn_state_name(c.state))},
                     {"bytes_in", c.bytes_in},
                     {"bytes_out", c.bytes_out}});
  }
  nlohmann::json parked = nlohmann::json::array();
  for (const auto& p : session::parked_at(s, m)) {
    parked.push_back({{"pid", p.pid},
                      {"tid", p.tid},
                      {"gate", std::string(trace::gate_name(p.gate))},
                      {"conn", p.conn}});
  }
  const auto& k = m.counts;
  return {{"parked", parked},{"architecture", meta.architecture},
          {"protocol", meta.protocol},
          {"port", meta.port},
          {"server_pid", meta.server_pid},
          {"events", s.events().size()},
          {"snapshots", s.snapshots().size()},
          {"drops", s.drops()},
          {"processes", procs},
          {"connections", conns},
          {"counts",
           {{"connections_accepted", k.connections_accepted},
            {"connections_open", k.connections_open},
            {"children_forked", k.children_forked},
            {"reaped", k.reaped},
            {"exited", k.exited},
            {"zombies_now", k.zombies_now},
            {"refused", k.refused},
            {"errors", k.errors}}}};
}

bool write_model_json(const session::Session& s, const std::filesystem::path& path, std::string& error,
                      const nlohmann::json& extra) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) {
      error = tmp.string() + ": " + std::strerror(errno);
      return false;
    }
    nlohmann::json j = model_to_json(s);
    j.update(extra);
    out << j.dump(1) << "\n";
    if (!out) {
      error = tmp.string() + ": write failed";
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    error = path.string() + ": " + ec.message();
    return false;
  }
  return true;
}

}  // namespace sockscope::app
