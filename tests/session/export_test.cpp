// Export and import: JSON Lines round trip, Chrome trace structure, CSV,
// narrative, corrupt inputs (each with its line number and reason), and
// atomic writes.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "session/export.h"
#include "session_fixture.h"
#include "support/temp_dir.h"

using namespace sockscope;
using namespace sockscope::session;
namespace fs = std::filesystem;
using sockscope::test::TempDir;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

TEST(JsonLines, RoundTripEqualsStoreAndFolds) {
  TempDir dir;
  Session s = testing_fixture::fork_server_session();
  auto path = dir.path() / "run.jsonl";
  std::string error;
  std::vector<double> progress;
  ASSERT_TRUE(write_jsonl(s, path, error, [&](double p) { progress.push_back(p); })) << error;
  ASSERT_FALSE(progress.empty());
  EXPECT_DOUBLE_EQ(progress.back(), 1.0);
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));

  auto text = slurp(path);
  auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 1 + s.events().size() + s.snapshots().size());
  auto header = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(header["magic"], "sockscope-session");
  EXPECT_EQ(header["version"], 1);
  EXPECT_EQ(header["trace_version"], trace::kTraceVersion);
  EXPECT_EQ(header["drops"], 7);
  EXPECT_EQ(header["architecture"], "fork");
  auto first = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(first["kind"], "server_start");
  EXPECT_EQ(first["text"], "fork");
  EXPECT_EQ(first["a"], 4481);
  // The non-UTF-8 text travels as hex.
  EXPECT_NE(text.find("\"text_hex\":\"616363fffe6570742c227822\""), std::string::npos);
  EXPECT_NE(text.find("{\"snapshot\":{"), std::string::npos);

  std::vector<double> read_progress;
  auto back = read_jsonl(path, error, [&](double p) { read_progress.push_back(p); });
  ASSERT_TRUE(back.has_value()) << error;
  EXPECT_TRUE(back->same_store(s));
  EXPECT_EQ(back->meta(), s.meta());
  EXPECT_EQ(back->drops(), 7u);
  EXPECT_EQ(back->snapshots(), s.snapshots());
  EXPECT_EQ(back->model(), s.model());
  EXPECT_EQ(back->fold(testing_fixture::kConnStart + 40), s.fold(testing_fixture::kConnStart + 40));
  ASSERT_FALSE(read_progress.empty());
  EXPECT_DOUBLE_EQ(read_progress.back(), 1.0);

  // And a second export of the import is byte-identical.
  auto again = dir.path() / "again.jsonl";
  ASSERT_TRUE(write_jsonl(*back, again, error)) << error;
  EXPECT_EQ(slurp(again), text);
}

// Each snapshot proc carries its TCP sockets; a proc with none writes no
// "sockets" key, so files from before sockets were sampled read the same.
TEST(JsonLines, SocketsRoundTripAndOldFilesWithoutThemStillImport) {
  Session s = testing_fixture::fork_server_session();
  std::ostringstream out;
  write_jsonl(s, out);
  const std::string text = out.str();
  EXPECT_NE(text.find("\"sockets\":[{\"fd\":3,\"inode\":9000,\"st\":10,\"local\":\"127.0.0.1\",\"local_port\":4481,"
                      "\"remote\":\"0.0.0.0\",\"remote_port\":0,\"rx_queue\":1,\"tx_queue\":128}"),
            std::string::npos)
      << text.substr(text.find("\"sockets\""), 200);
  std::string error;
  std::istringstream in(text);
  auto back = read_jsonl(in, "sockets", error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->snapshots(), s.snapshots());
  EXPECT_EQ(back->model().backlog, s.model().backlog);
  EXPECT_EQ(back->fold(testing_fixture::kConnStart + 40), s.fold(testing_fixture::kConnStart + 40));
  EXPECT_EQ(back->model().find_process(204)->sockets, s.model().find_process(204)->sockets);

  // The same file as an older build wrote it: no sockets anywhere.
  std::string old_text;
  for (const std::string& line : lines_of(text)) {
    auto j = nlohmann::ordered_json::parse(line);
    if (j.contains("snapshot"))
      for (auto& p : j["snapshot"]["procs"]) p.erase("sockets");
    old_text += j.dump() + "\n";
  }
  ASSERT_EQ(old_text.find("sockets"), std::string::npos);
  std::istringstream old_in(old_text);
  auto old = read_jsonl(old_in, "old", error);
  ASSERT_TRUE(old) << error;
  EXPECT_EQ(old->events().size(), s.events().size());
  for (const auto& snap : old->snapshots())
    for (const auto& p : snap.procs) EXPECT_TRUE(p.sockets.empty());
  EXPECT_FALSE(old->model().backlog.known());
  EXPECT_EQ(old->model().counts, s.model().counts);
}

TEST(JsonLines, BigSessionRoundTrip) {
  TempDir dir;
  Session s = testing_fixture::big_session(30000, 3);
  auto path = dir.path() / "big.jsonl";
  std::string error;
  ASSERT_TRUE(write_jsonl(s, path, error)) << error;
  auto back = read_jsonl(path, error);
  ASSERT_TRUE(back) << error;
  EXPECT_TRUE(back->same_store(s));
  EXPECT_EQ(back->model(), s.model());
}

TEST(JsonLines, EmptySessionRoundTrip) {
  TempDir dir;
  Session s;
  std::string error;
  ASSERT_TRUE(write_jsonl(s, dir.path() / "e.jsonl", error)) << error;
  auto back = read_jsonl(dir.path() / "e.jsonl", error);
  ASSERT_TRUE(back) << error;
  EXPECT_TRUE(back->events().empty());
  EXPECT_TRUE(back->same_store(s));
}

// Event lines in the writer's own shape take the reader's fast path; any
// other spelling of the same JSON takes the full parser. Both must read the
// same events, at the edges of every field too.
TEST(JsonLines, FastPathAndFullParserReadTheSameEvents) {
  Session s;
  std::uint32_t n = 0;
  auto add = [&](trace::Kind k, std::int64_t a, std::int64_t b, std::string_view text, std::uint16_t flags = 0) {
    trace::Event e = test::event(1000 + n, n % 3 == 0 ? std::numeric_limits<std::uint32_t>::max() : 4000 + n, k,
                                 n % 2 ? std::numeric_limits<std::uint32_t>::max() : n, a, b, text);
    e.flags = flags;
    s.add_event(e);
    ++n;
  };
  for (std::size_t k = 0; k < trace::kKindNames.size(); ++k) add(static_cast<trace::Kind>(k), 0, 0, "");
  add(trace::Kind::read, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(), "x");
  add(trace::Kind::write, -1, 1, "USER anonymous", 65535);
  add(trace::Kind::request, 0, -9, "a\"quote\\and slash");  // escapes: full parser
  add(trace::Kind::request, 0, 0, "tab\there");                // a control character: full parser
  add(trace::Kind::request, 0, 0, "h\xc3\xa9llo");              // UTF-8
  add(trace::Kind::request, 0, 0, "\xff\xfe not utf-8");         // text_hex
  add(trace::Kind::request, 0, 0, "exactly twenty-four byte");
  std::ostringstream out;
  write_jsonl(s, out);
  std::string error;
  std::istringstream fast(out.str());
  auto a = read_jsonl(fast, "fast", error);
  ASSERT_TRUE(a) << error;
  EXPECT_TRUE(a->same_store(s));

  // The same JSON re-serialised (keys in alphabetical order): no line has
  // the writer's shape, so every one takes the full parser.
  std::string reordered;
  for (const std::string& line : lines_of(out.str())) reordered += nlohmann::json::parse(line).dump() + "\n";
  ASSERT_EQ(reordered.find("{\"t\":"), std::string::npos);
  std::istringstream full(reordered);
  auto b = read_jsonl(full, "full", error);
  ASSERT_TRUE(b) << error;
  EXPECT_TRUE(b->same_store(s));
}

// Each corruption gives the line number and the reason, and loads nothing.
class CorruptJsonLines : public ::testing::Test {
 protected:
  TempDir dir;
  std::vector<std::string> lines;
  void SetUp() override {
    std::ostringstream out;
    write_jsonl(testing_fixture::fork_server_session(), out);
    lines = lines_of(out.str());
    ASSERT_GT(lines.size(), 10u);
  }
  std::string load_error(const std::string& text) {
    const auto path = dir.write("bad.jsonl", text);
    std::string error;
    auto s = read_jsonl(path, error);
    EXPECT_FALSE(s.has_value());
    EXPECT_EQ(error.rfind(path.string() + ": ", 0), 0u) << error;
    return error;
  }
};

TEST_F(CorruptJsonLines, TruncatedLastLine) {
  std::string text = join_lines(lines);
  text.resize(text.size() - 15);  // cut in the middle of the last record
  auto err = load_error(text);
  EXPECT_NE(err.find("line " + std::to_string(lines.size()) + ": truncated line"), std::string::npos) << err;
}

TEST_F(CorruptJsonLines, TruncatedAtLineBoundary) {
  lines.resize(lines.size() - 3);
  auto err = load_error(join_lines(lines));
  EXPECT_NE(err.find("line " + std::to_string(lines.size() + 1) + ": "), std::string::npos) << err;
  EXPECT_NE(err.find("truncated file"), std::string::npos) << err;
}

TEST_F(CorruptJsonLines, BadJson) {
  lines[4] = "{\"t\":12,\"pid\":";
  auto err = load_error(join_lines(lines));
  EXPECT_NE(err.find("line 5: malformed JSON"), std::string::npos) << err;
}

TEST_F(CorruptJsonLines, WrongMagic) {
  auto h = nlohmann::json::parse(lines[0]);
  h["magic"] = "something-else";
  lines[0] = h.dump();
  auto err = load_error(join_lines(lines));
  EXPECT_NE(err.find("line 1: not a sockscope session"), std::string::npos) << err;
  EXPECT_NE(err.find("something-else"), std::string::npos) << err;
}

TEST_F(CorruptJsonLines, NotJsonAtAll) {
  auto err = load_error("id,name\n1,x\n");
  EXPECT_NE(err.find("line 1: malformed JSON"), std::string::npos) << err;
}

TEST_F(CorruptJsonLines, WrongVersion) {
  auto h = nlohmann::json::parse(lines[0]);
  h["version"] = 2;
  lines[0] = h.dump();
  auto err = load_error(join_lines(lines));
  EXPECT_NE(err.find("line 1: unsupported session version 2 (this build reads version 1)"), std::string::npos)
      << err;
}

TEST_F(CorruptJsonLines, WrongTraceVersion) {
  auto h = nlohmann::json::parse(lines[0]);
  h["trace_version"] = 99;
  lines[0] = h.dump();
  auto err = load_error(join_lines(lines));
  EXPECT_NE(err.find("line 1: unsupported trace version 99"), std::string::npos) << err;
}

TEST_F(CorruptJsonLines, UnknownKind) {
  auto e = nlohmann::json::parse(lines[3]);
  e["kind"] = "teleport";
  lines[3] = e.dump();
  auto err = load_error(join_lines(lines));
  EXPECT_NE(err.find("line 4: unknown event kind 'teleport'"), std::string::npos) << err;
}

TEST_F(CorruptJsonLines, WrongFieldType) {
  auto e = nlohmann::json::parse(lines[6]);
  e["a"] = "lots";
  lines[6] = e.dump();
  auto err = load_error(join_lines(lines));
  EXPECT_NE(err.find("line 7: field 'a' must be an integer"), std::string::npos) << err;
}

TEST_F(CorruptJsonLines, MissingField) {
  auto e = nlohmann::json::parse(lines[2]);
  e.erase("pid");
  lines[2] = e.dump();
  auto err = load_error(join_lines(lines));
  EXPECT_NE(err.find("line 3: missing field 'pid'"), std::string::npos) << err;
}

TEST_F(CorruptJsonLines, SocketWithAWrongField) {
  std::size_t i = 0;
  while (i < lines.size() && lines[i].find("\"sockets\"") == std::string::npos) ++i;
  ASSERT_LT(i, lines.size());
  auto j = nlohmann::json::parse(lines[i]);
  j["snapshot"]["procs"][0]["sockets"][0]["rx_queue"] = -3;
  lines[i] = j.dump();
  auto err = load_error(join_lines(lines));
  EXPECT_NE(err.find("line " + std::to_string(i + 1) + ": snapshot socket: field 'rx_queue' must be an integer in range"),
            std::string::npos)
      << err;
}

TEST_F(CorruptJsonLines, HugeLine) {
  lines[1] = "{\"t\":1,\"text\":\"" + std::string(2u << 20, 'x') + "\"}";
  auto err = load_error(join_lines(lines));
  EXPECT_NE(err.find("line 2: line longer than 1048576 bytes"), std::string::npos) << err;
}

TEST_F(CorruptJsonLines, EmptyFile) {
  auto err = load_error("");
  EXPECT_NE(err.find("line 1: empty file"), std::string::npos) << err;
}

// Header counts and ports that do not fit their field are refused, not
// wrapped ("drops": -1 used to read as 18446744073709551615).
TEST_F(CorruptJsonLines, HeaderNumbersOutOfRange) {
  for (auto [field, value] : {std::pair<const char*, long long>{"drops", -1}, {"events", -5}, {"snapshots", -1},
                              {"port", 70000}, {"server_pid", -3}}) {
    auto copy = lines;
    auto h = nlohmann::json::parse(copy[0]);
    h[field] = value;
    copy[0] = h.dump();
    auto err = load_error(join_lines(copy));
    EXPECT_NE(err.find(std::string("line 1: header field '") + field + "' must be an integer from 0 to"),
              std::string::npos)
        << err;
  }
}

// A FIFO (or a directory) is refused at once: opening a FIFO with no writer
// used to block `sockscope replay` forever.
TEST_F(CorruptJsonLines, NotARegularFile) {
  const auto fifo = dir.path() / "session.jsonl";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string error;
  EXPECT_FALSE(read_jsonl(fifo, error).has_value());
  EXPECT_NE(error.find(": not a regular file (a FIFO)"), std::string::npos) << error;
  EXPECT_FALSE(read_jsonl(dir.path(), error).has_value());
  EXPECT_NE(error.find("(a directory)"), std::string::npos) << error;
}

TEST_F(CorruptJsonLines, MissingFile) {
  std::string error;
  EXPECT_FALSE(read_jsonl(dir.path() / "nope.jsonl", error).has_value());
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

TEST(ChromeTrace, ValidJsonWithTracksSpansAndFlows) {
  TempDir dir;
  Session s = testing_fixture::fork_server_session();
  auto path = dir.path() / "run.json";
  std::string error;
  ASSERT_TRUE(write_chrome_trace(s, path, error)) << error;
  auto j = nlohmann::json::parse(slurp(path));  // throws (fails the test) if invalid
  ASSERT_TRUE(j.contains("traceEvents"));
  const auto& te = j["traceEvents"];
  ASSERT_TRUE(te.is_array());

  std::set<int> named_pids;
  std::set<std::pair<int, int>> named_threads;
  std::map<std::string, int> phases;
  std::size_t instants = 0;
  bool child_span = false, conn_span = false;
  for (const auto& e : te) {
    ASSERT_TRUE(e.contains("ph"));
    ASSERT_TRUE(e.contains("pid"));
    std::string ph = e["ph"];
    ++phases[ph];
    if (ph == "M" && e["name"] == "process_name") named_pids.insert(e["pid"].get<int>());
    if (ph == "M" && e["name"] == "thread_name") named_threads.insert({e["pid"].get<int>(), e["tid"].get<int>()});
    if (ph != "M") {
      ASSERT_TRUE(e.contains("ts")) << e.dump();
    }
    if (ph == "X" && e["pid"] == 201 && e["name"] == "child lifetime") {
      child_span = true;
      EXPECT_GT(e["dur"].get<double>(), 0.0);
    }
    if (ph == "b" && e["name"] == "conn 1 (client 1)") {
      conn_span = true;
      EXPECT_EQ(e["pid"], 201);
    }
    if (ph == "i") ++instants;
  }
  for (int pid : {100, 201, 202, 203, 204, 500}) EXPECT_TRUE(named_pids.count(pid)) << pid;
  EXPECT_TRUE(named_threads.count({100, 100}));
  EXPECT_TRUE(named_threads.count({500, 500}));
  EXPECT_TRUE(child_span);
  EXPECT_TRUE(conn_span);
  EXPECT_EQ(instants, s.events().size());
  EXPECT_EQ(phases["b"], phases["e"]);
  EXPECT_EQ(phases["s"], 4);  // connections 1, 2, 3 and 5 were handed to children
  EXPECT_EQ(phases["f"], 4);
  EXPECT_GT(phases["C"], 0);
}

TEST(Csv, OneRowPerEventQuoted) {
  TempDir dir;
  Session s = testing_fixture::fork_server_session();
  auto path = dir.path() / "run.csv";
  std::string error;
  ASSERT_TRUE(write_csv(s, path, error)) << error;
  auto lines = lines_of(slurp(path));
  ASSERT_EQ(lines.size(), s.events().size() + 1);
  EXPECT_EQ(lines[0], "t_ns,t_ms,pid,tid,kind,conn,a,b,text");
  EXPECT_EQ(lines[1], "100,0.000,100,100,server_start,0,4481,0,\"fork\"");
  // The error text has a comma and a quote (doubled) and bytes that are not UTF-8 ('?').
  bool found = false;
  for (const auto& l : lines)
    if (l.find(",error,") != std::string::npos) {
      found = true;
      EXPECT_NE(l.find("\"acc??ept,\"\"x\"\"\""), std::string::npos) << l;
    }
  EXPECT_TRUE(found);
}

TEST(Narrative, TellsTheStoryAndEndsWithTheSummary) {
  TempDir dir;
  Session s = testing_fixture::fork_server_session();
  auto path = dir.path() / "run.txt";
  std::string error;
  ASSERT_TRUE(write_narrative(s, path, error)) << error;
  auto text = slurp(path);
  EXPECT_NE(text.find("pid 100 forked child 201 for connection 1 from 127.0.0.1:50001 (client 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("pid 100 refused connection 4 from 127.0.0.1:50004 (client 4) with 421"), std::string::npos)
      << text;
  EXPECT_NE(text.find("pid 100 reaped child 201 (exit code 0)"), std::string::npos) << text;
  EXPECT_NE(text.find("accepted connection 5 from 127.0.0.1:60000\n"), std::string::npos) << text;
  // Wall-clock times from the session's start stamp: HH:MM:SS.mmm.
  auto first_line = lines_of(text)[2];
  ASSERT_GE(first_line.size(), 12u);
  EXPECT_EQ(first_line[2], ':');
  EXPECT_EQ(first_line[8], '.');
  std::string sum = summary(s.model(), s);
  ASSERT_GE(text.size(), sum.size());
  EXPECT_EQ(text.substr(text.size() - sum.size()), sum);
}

TEST(AtomicWrite, NoTempFileLeftAndOverwrites) {
  TempDir dir;
  Session s = testing_fixture::fork_server_session();
  std::string error;
  for (const char* name : {"a.jsonl", "a.json", "a.csv", "a.txt"})
    ASSERT_TRUE(write_by_extension(s, dir.path() / name, error)) << error;
  // Overwrite an existing file: replaced whole.
  dir.write("a.csv", "old contents");
  ASSERT_TRUE(write_csv(s, dir.path() / "a.csv", error)) << error;
  EXPECT_EQ(slurp(dir.path() / "a.csv").rfind("t_ns,", 0), 0u);
  EXPECT_EQ(dir.names(), (std::vector<std::string>{"a.csv", "a.json", "a.jsonl", "a.txt"}));
  // write_by_extension picked the right formats.
  EXPECT_EQ(slurp(dir.path() / "a.jsonl").rfind("{\"magic\":\"sockscope-session\",\"version\":1,", 0), 0u);
  EXPECT_EQ(slurp(dir.path() / "a.json").rfind("{\"displayTimeUnit\"", 0), 0u);
  EXPECT_EQ(slurp(dir.path() / "a.txt").rfind("sockscope session: fork server (ftp) on 127.0.0.1:4481", 0), 0u);
}

TEST(AtomicWrite, FailureNamesThePathAndLeavesNothing) {
  TempDir dir;
  Session s = testing_fixture::fork_server_session();
  std::string error;
  auto missing = dir.path() / "no-such-dir" / "x.jsonl";
  EXPECT_FALSE(write_jsonl(s, missing, error));
  EXPECT_NE(error.find(missing.string()), std::string::npos) << error;
  // Renaming onto a directory fails after the temp file was written: it is removed.
  fs::create_directory(dir.path() / "taken.jsonl");
  EXPECT_FALSE(write_jsonl(s, dir.path() / "taken.jsonl", error));
  EXPECT_NE(error.find("rename"), std::string::npos) << error;
  EXPECT_EQ(dir.names(), std::vector<std::string>{"taken.jsonl"});
}

TEST(JsonLines, HandFormattedEventLineEqualsJsonDump) {
  // The fast writer and the JSON library must agree on every record shape.
  std::vector<trace::Event> events;
  auto e = test::event(123456789012345ull, 4000000000u, trace::Kind::client_reply, 4294967295u, INT64_MIN, INT64_MAX,
                       "say \"hi\"\\\t\x01\n\r\b\f\x1f");
  e.tid = 7;
  events.push_back(e);
  e.flags = 3;
  e.set_text("\xc3\xa9t\xc3\xa9");  // valid UTF-8
  events.push_back(e);
  e.set_text("\xff");
  events.push_back(e);
  e.set_text("");
  e.flags = 0;
  events.push_back(e);
  e.set_text("123456789012345678901234");  // full: no NUL terminator
  events.push_back(e);
  std::ostringstream out;
  Session s;
  for (const auto& ev : events) s.add_event(ev);
  write_jsonl(s, out);
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), events.size() + 1);
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto parsed = nlohmann::ordered_json::parse(lines[i + 1]);
    EXPECT_EQ(parsed.dump(), lines[i + 1]);  // canonical: what the library would write
  }
  std::string error;
  std::istringstream in(out.str());
  auto back = read_jsonl(in, "mem", error);
  ASSERT_TRUE(back) << error;
  EXPECT_TRUE(back->same_store(s));
}
