// The one path from the user to the lab. The controls view's buttons and the
// --script runner both call these functions, so a scripted screenshot shows
// exactly what clicking would have done.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lab/lab.h"

namespace sockscope::lab {

inline constexpr std::uint16_t kDefaultLessonPort = 4481;

// The first port from `preferred` upwards (up to 100 further) that can be
// bound on 127.0.0.1 right now; 0 when none can.
std::uint16_t find_free_port(std::uint16_t preferred);

// The client presets are clients::presets() (engine/clients/scenario.h).
struct ClientRequest {
  int count = 1;
  std::string preset = "steady";
  int hold_ms = -1;  // >= 0: each client stays connected this long (shows live children)
  int work_ms = 0;   // > 0: what SITE WORK / GET /work burns (heavy), in ms
  std::vector<std::string> lines;  // custom: the protocol lines each client sends
};

class Controller {
 public:
  explicit Controller(Lab& lab);
  ~Controller();  // stops clients and server
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // The form the controls edit; start() uses it. The default lesson: fork,
  // ftp, 127.0.0.1:4481 or the next free port, reaping, 64 children max.
  ServerSpec& spec() { return spec_; }
  // The form back to the default lesson's (the port kept): a lesson starts
  // from the same settings whatever the user changed before it.
  void reset_form();

  // Changes one setting of the form. While a server runs a change applies on
  // the next Start, except turning reaping on for a server that does not
  // reap: it starts reaping now (its zombies vanish). Returns true when the
  // change took effect on the running server.
  bool set_setting(servers::SettingId id, int value);
  // The settings of the form that differ from the running server's (empty
  // when stopped): what the next Start will change.
  std::vector<servers::SettingId> pending_settings() const;

  // Start the server described by spec(). False (and last_error()) on failure.
  bool start();
  // Stop clients, then the server. Safe when stopped.
  void stop();
  bool running() const;
  // Start one simulator process for `request`. Starts nothing when stopped.
  bool add_clients(const ClientRequest& request);

  pid_t server_pid() const { return lab_.server_pid(); }
  std::uint16_t port() const;  // the running server's port, else the form's
  int running_clients() const { return lab_.running_clients(); }
  const std::string& last_error() const { return last_error_; }
  void clear_error() { last_error_.clear(); }

  Lab& lab() { return lab_; }
  const Lab& lab() const { return lab_; }

  // Someone else drives the lab (a comparison, on its own thread): start(),
  // stop(), add_clients() and set_setting() refuse with `why` until it is
  // cleared, and views read nothing of the lab's server spec meanwhile.
  void set_busy(std::string why) { busy_ = std::move(why); }
  const std::string& busy() const { return busy_; }

 private:
  Lab& lab_;
  ServerSpec spec_;
  std::string last_error_;
  std::uint32_t next_client_id_ = 1;
  std::string busy_;
};

}  // namespace sockscope::lab
