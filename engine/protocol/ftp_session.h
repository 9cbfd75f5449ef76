// FTP over the Session seam: the subset of RFC 959/2428/3659 that curl, lftp,
// python ftplib and tnftp need (see reference/ftp-clients.md), anonymous,
// read-only, passive-only, confined to a Jail.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/jail.h"
#include "protocol/protocol.h"

namespace sockscope::protocol {

inline constexpr std::uint64_t kFtpRetrCap = 64ull << 20;  // RETR refuses bigger files (550)

class FtpSession final : public Session {
 public:
  // Throws std::system_error when cfg.root is not an openable directory.
  explicit FtpSession(const SessionConfig& cfg, Jail::Resolver resolver = Jail::Resolver::openat2);

  Actions greeting() override;
  void receive(std::string_view bytes) override;
  std::optional<Actions> next() override;
  Actions passive_opened(std::uint16_t port) override;
  Actions transfer_failed() override;
  Actions timed_out() override;
  Actions counted(std::int64_t value) override;
  bool closing() const override { return closing_; }
  // Part of a command line, its end of line not yet here.
  bool pending_input() const override { return !closing_ && !buffer_.empty(); }
  bool unanswered_input() const override { return dropped_input_ || !buffer_.empty(); }

  const std::string& cwd() const { return cwd_; }

 private:
  enum class Passive { none, pasv, epsv };

  // One command line (without its line ending, Telnet bytes removed).
  Actions command(const std::string& line);
  void dispatch(const std::string& verb, const std::string& arg, Actions& out);

  // Handlers, one per verb family; each appends its replies to `out`.
  void do_user(const std::string& arg, Actions& out);
  void do_pass(Actions& out);
  void do_cwd(const std::string& arg, Actions& out);
  void do_type(const std::string& arg, Actions& out);
  void do_passive(Passive kind, const std::string& arg, Actions& out);
  void do_list(bool names_only, const std::string& arg, Actions& out);
  void do_retr(const std::string& arg, Actions& out);
  void do_size(const std::string& arg, Actions& out);
  void do_mdtm(const std::string& arg, Actions& out);
  void do_rest(const std::string& arg, Actions& out);
  void do_stat(const std::string& arg, Actions& out);
  void do_site(const std::string& arg, Actions& out);

  // The listing bytes of a directory or a single file, or false if missing.
  bool listing(const std::string& vpath, bool names_only, std::string& out) const;

  SessionConfig cfg_;
  Jail jail_;
  std::string buffer_;
  bool dropped_input_ = false;  // closing threw away bytes never answered
  // Closing: what is left in the buffer will never be answered.
  void drop_input() {
    dropped_input_ = dropped_input_ || !buffer_.empty();
    buffer_.clear();
  }
  std::string cwd_ = "/";
  bool user_given_ = false;
  bool logged_in_ = false;
  bool ascii_ = true;                 // TYPE A is the RFC 959 default
  Passive pending_ = Passive::none;   // open_passive asked, reply not yet sent
  bool passive_ready_ = false;        // a listener exists for the next transfer
  std::uint64_t rest_ = 0;            // REST offset for the next RETR
  bool closing_ = false;
};

}  // namespace sockscope::protocol
