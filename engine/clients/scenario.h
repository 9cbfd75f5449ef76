// A Scenario says what the client simulator does: how many real TCP clients,
// how they arrive, what each one sends, and which of them misbehave (slow
// senders, CPU-heavy requests, idle connections). It is plain data: the lab
// builds one, turns it into `sockscope clients ...` arguments with to_args(),
// and the exec'd simulator parses it back (clients_command.h) — so the round
// trip to_args → parse must give back the same Scenario (tested).
//
// Which client does what is decided here, not in the simulator, so that it is
// deterministic and testable without sockets: plan() spreads the work and slow
// shares evenly over the client ids (share 0.5 of 4 = clients 1 and 3; the
// number is rounded: 0.4 of 2 is one), and the idle clients are the last
// `idle_count` ids.
//
// Load mode: with `repeat` each client runs its script over and over until the
// run's deadline (a closed loop: the next request goes out as soon as the
// answer is in, plus think time), and the deadline is its normal end. With
// `reconnect` every request (HTTP) or pass of the script (FTP) gets a new
// connection. plan() says which steps repeat (ClientPlan::loop_begin/end).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/protocol.h"

namespace sockscope::clients {

struct Scenario {
  protocol::Protocol protocol = protocol::Protocol::ftp;
  std::string host = "127.0.0.1";  // loopback unless asked otherwise (--host)
  std::uint16_t port = 0;          // must be set before a run
  int count = 5;                   // clients, i.e. TCP connections (idle ones included)
  std::uint32_t first_id = 1;      // client ids are first_id .. first_id+count-1
  int spacing_ms = 100;            // client k connects k*spacing_ms after the start
  int think_ms = 50;               // pause before each command
  double work_share = 0.0;         // 0..1: clients that add SITE WORK / GET /work?ms=
  int work_ms = 100;               // CPU the server burns for each of them
  double slow_share = 0.0;         // 0..1: clients that send byte by byte and read slowly
  int slow_byte_ms = 20;           // a slow client's delay between bytes / small reads
  int idle_count = 0;              // clients that log in, then sit until hold_ms ends
  int hold_ms = 0;                 // each client stays connected at least this long
  int timeout_ms = 10000;          // per reply (and per data transfer)
  int deadline_ms = 0;             // whole run; 0 = derived (see run_deadline_ms)
  // Load mode. repeat: run the script again and again until the deadline, on
  // the same connection (FTP: the steps between login and QUIT; HTTP: all of
  // them, keep-alive); the deadline then ends the client cleanly, unless it is
  // still waiting for its first reply (starved: an error, as without repeat).
  bool repeat = false;
  // A new connection per HTTP request ("Connection: close", read to the
  // server's close, connect again) or per pass of the FTP script (login to
  // QUIT). Without repeat: HTTP once per step, FTP one pass as usual.
  bool reconnect = false;
  std::vector<std::string> script; // empty = default_script(protocol)
  bool trace = true;               // false = --no-trace

  bool operator==(const Scenario&) const = default;

  // Arguments for `sockscope clients` (without the subcommand name). Every
  // field is spelled out, so the result does not depend on preset defaults.
  std::vector<std::string> to_args() const;
  // Empty when the scenario can run; otherwise what is wrong, in words.
  std::string validate() const;
  // The script every ordinary client runs (script, or the default one).
  std::vector<std::string> effective_script() const;
  // The global deadline in ms: deadline_ms, or the last arrival + hold_ms + 2 min.
  // A repeating run lasts until it: give one (the load presets do).
  long run_deadline_ms() const;
};

// FTP: USER anonymous, PASS x, PWD, EPSV, LIST, TYPE I, PASV, RETR hello.txt,
// QUIT (both passive forms, so both reply parsers run). HTTP: GET / and
// GET /hello.txt on one keep-alive connection.
std::vector<std::string> default_script(protocol::Protocol p);

// The client presets, one table: the controls' buttons, the script's and the
// command line's preset names and their help all come from it.
struct PresetInfo {
  std::string_view name;
  std::string_view help;  // one line: what the clients do and what it shows
};
std::span<const PresetInfo> presets();
// The deadline of the load presets (keepalive, close): a run given no other
// deadline still ends.
inline constexpr int kLoadDeadlineMs = 3000;

// A preset by name. Throws std::invalid_argument naming the valid names for
// anything else. "custom" is steady timing with the default script as the
// lines to start from: the caller replaces `script` with the user's lines.
Scenario preset(std::string_view name, protocol::Protocol p = protocol::Protocol::ftp);
const std::vector<std::string>& preset_names();
// "steady, burst, ..." for messages.
std::string preset_list();

// The lines of the "counter" preset: log in (FTP), ask for the visitor count.
std::vector<std::string> counter_script(protocol::Protocol p);
// A step that asks for the visitor count: "SITE COUNT" or "GET /count".
bool is_count_step(std::string_view step);

// What one client will do.
struct ClientPlan {
  std::uint32_t id = 0;
  int start_ms = 0;   // after the run starts
  bool work = false;
  bool slow = false;
  bool idle = false;
  std::vector<std::string> steps;  // commands (FTP) or "GET /path" (HTTP)
  // Load mode (never for idle clients). With repeat, steps [loop_begin,
  // loop_end) run again and again until the deadline: on one connection the
  // FTP steps between the login and a final QUIT (SITE WORK included), all
  // HTTP steps; with reconnect, all steps, on a new connection each pass
  // (FTP) or each step (HTTP).
  bool repeat = false;
  bool reconnect = false;
  std::size_t loop_begin = 0;
  std::size_t loop_end = 0;
};
std::vector<ClientPlan> plan(const Scenario& s);

// FTP commands that need a passive data connection.
bool is_data_command(std::string_view command);
// The command as it may appear in a trace or log: the password never does.
std::string redacted(std::string_view command);

}  // namespace sockscope::clients
