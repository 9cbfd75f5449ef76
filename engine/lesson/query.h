// The query vocabulary: what a lesson may ask of the run. A prediction's
// answer and a goal's condition name a query; the run gives its value at the
// moment it is asked, from the kernel (/proc, read then), the session model
// (the trace folded so far) or the lesson's last comparison. A lesson file
// never holds a value.
//
// One table (queries()) lists every query with its source, unit and help; the
// parser, `sockscope lesson --queries`, docs/lessons.md and a test walking
// every row all read it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sockscope::compare {
struct Result;
}
namespace sockscope::lab {
class Lab;
}
namespace sockscope::session {
class Session;
}

namespace sockscope::lesson {

// A measured value: a number, or a name (compare_least's server).
struct Value {
  bool known = false;      // false: the run could not give it (why in `why`)
  bool is_text = false;
  double number = 0.0;
  std::string text;
  std::string unit;        // "processes", "ms", "KiB", ...
  std::string why;         // when !known: "no server is running", ...
  // "4 processes", "12.3 ms", "thread" ("unknown: why" when !known).
  std::string shown() const;
};

enum class QuerySource { proc, session, compare };
std::string_view query_source_name(QuerySource s);  // "/proc", "session", "compare"

// A query as written: its name and arguments, checked against the table.
struct QueryRef {
  std::string name;
  std::vector<std::string> args;
  std::string text() const;  // "compare pss_per_conn_kb thread"
};

// What a query is evaluated against. `session` and `server` may be empty
// (nothing started yet); `compare` is the lesson's last comparison.
struct QueryContext {
  const session::Session* session = nullptr;
  pid_t server_pid = 0;
  const compare::Result* compare = nullptr;
};

struct Query {
  std::string_view name;
  QuerySource source;
  std::string_view unit;
  std::string_view args;  // "" or "COLUMN SERVER", "COLUMN"
  std::string_view help;
  bool text = false;      // its value is a name, not a number
};

std::span<const Query> queries();
const Query* find_query(std::string_view name);
std::string query_names();  // "processes, children, ..."

// Checks a query as written ("zombies", "compare p99_ms evloop"): known name,
// right arguments. Returns "" or the reason.
std::string check_query(const QueryRef& q);

// The value now. Reads /proc for the proc queries; the session under the
// caller's lock (see session.h: call inside SharedSession::read).
Value evaluate(const QueryRef& q, const QueryContext& context);
// The same from a lab: takes the session's lock itself.
Value evaluate(const QueryRef& q, lab::Lab& lab, const compare::Result* last_compare);

}  // namespace sockscope::lesson
