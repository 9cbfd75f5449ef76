#include "lab/controller.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <exception>

#include "clients/scenario.h"

namespace sockscope::lab {
namespace {

// Whether 127.0.0.1:port can be bound right now. A probe, not a reservation:
// the server binds it a moment later, and start() reports if someone won the
// race.
bool port_free(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  // The server sets SO_REUSEADDR too: TIME_WAIT leftovers do not count as taken.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::uint16_t find_free_port(std::uint16_t preferred) {
  for (unsigned p = preferred; p <= 65535u && p <= preferred + 100u; ++p) {
    if (port_free(static_cast<std::uint16_t>(p))) return static_cast<std::uint16_t>(p);
  }
  return 0;
}

Controller::Controller(Lab& lab) : lab_(lab) {
  spec_.arch = "fork";
  spec_.protocol = "ftp";
  spec_.port = kDefaultLessonPort;
}

Controller::~Controller() { stop(); }

void Controller::reset_form() {
  const std::uint16_t port = spec_.port;
  spec_ = ServerSpec{};
  spec_.arch = "fork";
  spec_.protocol = "ftp";
  spec_.port = port;
}

bool Controller::start() {
  last_error_.clear();
  if (!busy_.empty()) {
    last_error_ = busy_;
    return false;
  }
  if (lab_.server_running()) return true;
  try {
    std::uint16_t port = lab_.start_server(spec_);
    spec_.port = port;
    next_client_id_ = 1;  // a new run starts a new session
    return true;
  } catch (const std::exception& e) {
    last_error_ = "Could not start the " + spec_.arch + " server on port " + std::to_string(spec_.port) + ": " + e.what();
    return false;
  }
}

void Controller::stop() {
  if (!busy_.empty()) {
    last_error_ = busy_;
    return;
  }
  lab_.stop_clients();
  lab_.stop_server();
}

bool Controller::running() const { return lab_.server_pid() > 0; }

bool Controller::set_setting(servers::SettingId id, int value) {
  spec_.settings.set(id, value);
  if (!busy_.empty() || !running() || id != servers::SettingId::reap || !spec_.settings.on(id)) return false;
  const servers::Architecture* a = servers::find_architecture(lab_.server_spec().arch);
  if (a == nullptr || !a->uses(id) || lab_.server_spec().settings.on(id)) return false;
  return lab_.reap_now();
}

std::vector<servers::SettingId> Controller::pending_settings() const {
  std::vector<servers::SettingId> out;
  if (!busy_.empty() || !running()) return out;
  const servers::Architecture* a = servers::find_architecture(lab_.server_spec().arch);
  if (a == nullptr || spec_.arch != lab_.server_spec().arch) return out;
  for (servers::SettingId id : a->settings)
    if (spec_.settings.get(id) != lab_.server_spec().settings.get(id)) out.push_back(id);
  return out;
}

std::uint16_t Controller::port() const {
  std::uint16_t p = lab_.server_port();
  return running() && p != 0 ? p : spec_.port;
}

bool Controller::add_clients(const ClientRequest& request) {
  last_error_.clear();
  if (!busy_.empty()) {
    last_error_ = busy_;
    return false;
  }
  if (!running()) {
    last_error_ = "Start the server first: clients need something to connect to.";
    return false;
  }
  try {
    protocol::Protocol proto = protocol::Protocol::ftp;
    protocol::protocol_from_name(lab_.server_spec().protocol, proto);
    clients::Scenario scenario = clients::preset(request.preset, proto);
    scenario.count = request.count;
    if (request.hold_ms >= 0) scenario.hold_ms = request.hold_ms;
    if (request.work_ms > 0) scenario.work_ms = request.work_ms;
    if (!request.lines.empty()) scenario.script = request.lines;
    scenario.port = lab_.server_port();
    if (std::string e = scenario.validate(); !e.empty()) {
      last_error_ = "Could not start clients: " + e;
      return false;
    }
    scenario.port = lab_.server_port();
    // Client ids stay unique across batches: the session joins clients to
    // connections by id.
    scenario.first_id = next_client_id_;
    lab_.start_clients(scenario);
    next_client_id_ += static_cast<std::uint32_t>(request.count);
    return true;
  } catch (const std::exception& e) {
    last_error_ = std::string("Could not start clients: ") + e.what();
    return false;
  }
}

}  // namespace sockscope::lab
