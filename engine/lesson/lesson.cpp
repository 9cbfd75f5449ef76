// The lesson file parser (format in lesson.h, guide in docs/lessons.md).
#include "lesson/lesson.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace sockscope::lesson {
namespace {

constexpr std::string_view kKeys[] = {"title", "summary", "order", "step",   "setup", "predict", "choice", "answer",
                                      "do",    "reveal",  "goal",  "within", "task",  "hint",    "solution"};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

bool to_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  const char* b = s.data();
  auto [p, ec] = std::from_chars(b, b + s.size(), out);
  return ec == std::errc() && p == b + s.size() && std::isfinite(out);
}

bool to_int(const std::string& s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// Edit distance, to tell a misspelt key ("anwser:") from prose that happens
// to start with a word and a colon.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> words_of(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Where prose lines go: the paragraphs of whatever key came last.
struct Prose {
  std::vector<std::string>* into = nullptr;
  bool new_paragraph = true;
  void add(const std::string& line) {
    if (into == nullptr) return;
    if (new_paragraph || into->empty()) into->push_back(line);
    else into->back() += " " + line;
    new_paragraph = false;
  }
};

struct LessonParser {
  std::string file;
  ScriptParser script;
  Lesson lesson;
  Prose prose;
  std::string error;
  int line = 0;
  bool have_title = false, have_summary = false;

  bool fail(std::string reason, int at = 0) {
    error = file + ":" + std::to_string(at != 0 ? at : line) + ": " + std::move(reason);
    return false;
  }

  Step* step() { return lesson.steps.empty() ? nullptr : &lesson.steps.back(); }

  bool verb(const std::string& text, std::vector<ScriptCommand>& into, const char* key) {
    ScriptCommand c;
    c.line = line;
    bool blank = false;
    std::string reason;
    if (!script.parse(text, c, blank, reason)) return fail(std::string(key) + ": " + reason);
    if (blank) return fail(std::string(key) + ": expected a script verb (start, clients, wait, step, set, ...)");
    using Op = ScriptCommand::Op;
    if (c.op == Op::screenshot || c.op == Op::dump_model || c.op == Op::export_session || c.op == Op::quit ||
        c.op == Op::theme || c.op == Op::font_size || c.op == Op::lesson)
      return fail("'" + c.source + "' is not for lessons (a lesson may start, stop, set, add clients, wait, step, "
                  "compare, and change the layout)");
    into.push_back(std::move(c));
    return true;
  }

  bool query(const std::string& text, QueryRef& out) {
    std::vector<std::string> w = words_of(text);
    if (w.empty()) return fail("expected a query (" + query_names() + ")");
    out.name = w[0];
    out.args.assign(w.begin() + 1, w.end());
    if (std::string why = check_query(out); !why.empty()) return fail(why);
    return true;
  }

  bool choice(const std::string& text, Choice& c) {
    c.label = text;
    double a = 0, b = 0;
    if (to_double(text, a)) {
      c.kind = Choice::Kind::exact;
      c.lo = c.hi = a;
      return true;
    }
    if (text.size() > 1 && text.back() == '+' && to_double(text.substr(0, text.size() - 1), a)) {
      c.kind = Choice::Kind::at_least;
      c.lo = a;
      return true;
    }
    if (auto dash = text.find('-', 1); dash != std::string::npos && to_double(text.substr(0, dash), a) &&
                                       to_double(text.substr(dash + 1), b)) {
      if (b < a) return fail("choice range " + text + " runs backwards");
      c.kind = Choice::Kind::range;
      c.lo = a;
      c.hi = b;
      return true;
    }
    if (text.find(' ') != std::string::npos || text.empty())
      return fail("a choice is a number (6), at least a number (6+), a range (2-4), or one word (thread); got '" +
                  text + "'");
    c.kind = Choice::Kind::word;
    return true;
  }

  bool goal(const std::string& text, Goal& g) {
    std::vector<std::string> w = words_of(text);
    static constexpr std::pair<std::string_view, GoalOp> ops[] = {{">=", GoalOp::ge}, {"<=", GoalOp::le},
                                                                    {"==", GoalOp::eq}, {"!=", GoalOp::ne},
                                                                    {">", GoalOp::gt},  {"<", GoalOp::lt}};
    for (std::size_t i = 1; i + 1 < w.size(); ++i) {
      for (auto [name, op] : ops) {
        if (w[i] != name) continue;
        if (i + 2 != w.size() || !to_double(w[i + 1], g.target))
          return fail("goal: expected QUERY [ARGS] OP NUMBER (e.g. zombies >= 3), got '" + text + "'");
        g.op = op;
        std::string q;
        for (std::size_t k = 0; k < i; ++k) q += (k ? " " : "") + w[k];
        if (!query(q, g.query)) return false;
        if (find_query(g.query.name)->text) return fail("goal: " + g.query.name + " is a name, not a number");
        return true;
      }
    }
    return fail("goal: expected QUERY [ARGS] OP NUMBER with OP one of >= <= == != > < (e.g. zombies >= 3), got '" +
                text + "'");
  }

  // The checks that need the whole step: run when the next step starts and at the end.
  bool finish_step() {
    Step* s = step();
    if (s == nullptr) return true;
    if (s->predict && s->predict->answer.name.empty())
      return fail("prediction without an answer: add 'answer: QUERY' (" + query_names() + ")", s->predict->line);
    if (s->predict) {
      const Prediction& p = *s->predict;
      const bool text = find_query(p.answer.name)->text;
      if (text && p.choices.empty())
        return fail("answer " + p.answer.name + " is a name: the prediction needs choice lines", p.answer_line);
      for (const auto& c : p.choices)
        if ((c.kind == Choice::Kind::word) != text)
          return fail(text ? "choice '" + c.label + "' must be a word: " + p.answer.name + " gives a name"
                           : "choice '" + c.label + "' must be a number, N+ or N-M: " + p.answer.name +
                                 " gives a number",
                      p.answer_line);
    }
    if (s->goal && s->solution.empty())
      return fail("a goal needs a solution: 'solution: VERB ...' lines that meet it (Show me and --check run them)",
                  s->goal->line);
    if (!s->goal && !s->solution.empty()) return fail("a solution without a goal: add 'goal: QUERY OP NUMBER'", s->line);
    if (!s->goal && !s->hints.empty()) return fail("hints without a goal: add 'goal: QUERY OP NUMBER'", s->line);
    return true;
  }

  bool key(const std::string& k, const std::string& v) {
    Step* s = step();
    auto need_step = [&] {
      if (s == nullptr) return fail(k + ": comes inside a step; start one with 'step: TITLE'");
      return true;
    };
    auto need_value = [&] {
      if (v.empty()) return fail(k + ": needs a value");
      return true;
    };
    prose = {};
    if (k == "title" || k == "summary" || k == "order") {
      if (s != nullptr) return fail(k + ": belongs at the top, before the first step");
      if (!need_value()) return false;
      if (k == "title") {
        lesson.title = v;
        have_title = true;
      } else if (k == "summary") {
        lesson.summary = v;
        have_summary = true;
      } else if (!to_int(v, lesson.order) || lesson.order < 0) {
        return fail("order must be a whole number from 0, got '" + v + "'");
      }
      return true;
    }
    if (k == "step") {
      if (!have_title || !have_summary) return fail("a lesson starts with 'title:' and 'summary:' before its first step");
      if (!need_value() || !finish_step()) return false;
      Step st;
      st.line = line;
      st.title = v;
      lesson.steps.push_back(std::move(st));
      prose.into = &lesson.steps.back().text;
      return true;
    }
    if (!need_step()) return false;
    if (k == "setup" || k == "do" || k == "solution") {
      if (!need_value()) return false;
      if (k == "setup" && (!s->actions.empty() || s->predict))
        return fail("setup: comes before the step's prediction and its 'do:' lines");
      return verb(v, k == "setup" ? s->setup : k == "do" ? s->actions : s->solution, k.c_str());
    }
    if (k == "predict") {
      if (s->predict) return fail("one prediction per step (this step has one at line " + std::to_string(s->predict->line) + ")");
      if (!s->actions.empty()) return fail("predict: comes before the 'do:' lines it is about");
      if (!need_value()) return false;
      Prediction p;
      p.line = line;
      p.question = v;
      s->predict = std::move(p);
      return true;
    }
    if (k == "choice" || k == "answer" || k == "reveal") {
      if (!s->predict) return fail(k + ": belongs to a prediction; put 'predict: QUESTION' first");
      Prediction& p = *s->predict;
      if (k == "choice") {
        if (!need_value()) return false;
        Choice c;
        if (!choice(v, c)) return false;
        p.choices.push_back(std::move(c));
        return true;
      }
      if (k == "answer") {
        if (!p.answer.name.empty()) return fail("answer: given twice for one prediction");
        p.answer_line = line;
        return query(v, p.answer);
      }
      if (!v.empty()) p.reveal.push_back(v);
      prose.into = &p.reveal;
      prose.new_paragraph = v.empty();
      return true;
    }
    if (k == "goal") {
      if (s->goal) return fail("one goal per step");
      Goal g;
      g.line = line;
      if (!goal(v, g)) return false;
      s->goal = std::move(g);
      return true;
    }
    if (k == "within" || k == "task") {
      if (!s->goal) return fail(k + ": belongs to a goal; put 'goal: QUERY OP NUMBER' first");
      if (k == "within") {
        if (!to_int(v, s->goal->within_s) || s->goal->within_s < 1 || s->goal->within_s > 600)
          return fail("within must be seconds from 1 to 600, got '" + v + "'");
        return true;
      }
      if (!v.empty()) s->goal->task.push_back(v);
      prose.into = &s->goal->task;
      prose.new_paragraph = v.empty();
      return true;
    }
    if (k == "hint") {
      if (!need_value()) return false;
      s->hints.push_back(v);
      return true;
    }
    return fail("unknown key '" + k + "'");
  }

  bool parse_line(const std::string& raw) {
    std::string text = raw;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (!text.empty() && text[0] == '#') return true;
    if (trim(text).empty()) {
      prose.new_paragraph = true;
      return true;
    }
    // A key: lowercase letters and '_' from the first column, then ':'.
    if (text[0] >= 'a' && text[0] <= 'z') {
      std::size_t i = 0;
      while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z') || text[i] == '_')) ++i;
      if (i < text.size() && text[i] == ':') {
        const std::string k = text.substr(0, i);
        if (std::find(std::begin(kKeys), std::end(kKeys), k) != std::end(kKeys))
          return key(k, trim(text.substr(i + 1)));
        // Not a key: prose ("process: the child ..."), unless it is one misspelt.
        for (auto known : kKeys)
          if (k.size() >= 4 && distance(k, known) <= 2)
            return fail("unknown key '" + k + "': did you mean '" + std::string(known) +
                        "'? (indent prose that starts like a key)");
      }
    }
    if (prose.into == nullptr) {
      if (step() == nullptr) return fail("prose before the first step: start one with 'step: TITLE'");
      return fail("prose here belongs to nothing: put it under 'step:', 'reveal:' or 'task:'");
    }
    prose.add(trim(text));
    return true;
  }
};

}  // namespace

bool Choice::matches(const Value& v) const {
  if (!v.known) return false;
  if (kind == Kind::word) return v.is_text && v.text == label;
  if (v.is_text) return false;
  // Measured numbers are rounded as they are shown (one decimal).
  const double n = std::round(v.number * 10.0) / 10.0;
  switch (kind) {
    case Kind::exact: return n == lo;
    case Kind::at_least: return n >= lo;
    case Kind::range: return n >= lo && n <= hi;
    case Kind::word: break;
  }
  return false;
}

int Prediction::matching_choice(const Value& v) const {
  for (std::size_t i = 0; i < choices.size(); ++i)
    if (choices[i].matches(v)) return static_cast<int>(i);
  return -1;
}

std::string_view goal_op_text(GoalOp op) {
  switch (op) {
    case GoalOp::ge: return ">=";
    case GoalOp::le: return "<=";
    case GoalOp::eq: return "==";
    case GoalOp::ne: return "!=";
    case GoalOp::gt: return ">";
    case GoalOp::lt: return "<";
  }
  return "?";
}

bool Goal::met_by(const Value& v) const {
  if (!v.known || v.is_text) return false;
  switch (op) {
    case GoalOp::ge: return v.number >= target;
    case GoalOp::le: return v.number <= target;
    case GoalOp::eq: return v.number == target;
    case GoalOp::ne: return v.number != target;
    case GoalOp::gt: return v.number > target;
    case GoalOp::lt: return v.number < target;
  }
  return false;
}

std::string Goal::text() const {
  Value t;
  t.known = true;
  t.number = target;
  return query.text() + " " + std::string(goal_op_text(op)) + " " + t.shown();
}

std::optional<Lesson> parse_lesson(std::istream& in, const std::string& file_name, std::string& error,
                                   const WindowVerbParser& window) {
  LessonParser p{file_name, ScriptParser(window, /*lesson=*/true), {}, {}, {}, 0};
  std::string raw;
  while (std::getline(in, raw)) {
    ++p.line;
    if (!p.parse_line(raw)) {
      error = p.error;
      return std::nullopt;
    }
  }
  const int end = std::max(p.line, 1);
  if (!p.have_title) {
    error = file_name + ":" + std::to_string(end) + ": no 'title:' line (is the file empty or cut short?)";
    return std::nullopt;
  }
  if (!p.have_summary) {
    error = file_name + ":" + std::to_string(end) + ": no 'summary:' line";
    return std::nullopt;
  }
  if (p.lesson.steps.empty()) {
    error = file_name + ":" + std::to_string(end) + ": no steps: add 'step: TITLE' and its text";
    return std::nullopt;
  }
  if (!p.finish_step()) {
    error = p.error;
    return std::nullopt;
  }
  for (const Step& s : p.lesson.steps)
    if (s.text.empty()) {
      error = file_name + ":" + std::to_string(s.line) + ": step '" + s.title + "' has no text";
      return std::nullopt;
    }
  return std::move(p.lesson);
}

std::optional<Lesson> load_lesson(const std::filesystem::path& path, std::string& error,
                                  const WindowVerbParser& window) {
  std::ifstream in(path);
  if (!in) {
    error = path.string() + ": cannot read it";
    return std::nullopt;
  }
  auto lesson = parse_lesson(in, path.string(), error, window);
  if (lesson) {
    lesson->name = path.stem().string();
    lesson->path = path;
  }
  return lesson;
}

std::filesystem::path lessons_dir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("SOCKSCOPE_LESSONS"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
#ifdef SOCKSCOPE_SOURCE_LESSONS
  if (fs::is_directory(SOCKSCOPE_SOURCE_LESSONS, ec)) return SOCKSCOPE_SOURCE_LESSONS;
#endif
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return exe.parent_path().parent_path() / "share" / "sockscope" / "lessons";
}

std::vector<LessonEntry> list_lessons(const std::filesystem::path& dir, const WindowVerbParser& window) {
  std::vector<LessonEntry> out;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    if (f.path().extension() != ".lesson") continue;
    LessonEntry e;
    e.name = f.path().stem().string();
    e.path = f.path();
    auto lesson = load_lesson(f.path(), e.error, window);
    if (lesson) {
      e.title = lesson->title;
      e.summary = lesson->summary;
      e.order = lesson->order;
      e.steps = static_cast<int>(lesson->steps.size());
    }
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const LessonEntry& a, const LessonEntry& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  return out;
}

std::optional<std::filesystem::path> resolve_lesson(const std::string& name, std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (name.find('/') != std::string::npos || fs::path(name).extension() == ".lesson") {
    if (fs::is_regular_file(name, ec)) return fs::path(name);
    error = name + ": no such lesson file";
    return std::nullopt;
  }
  fs::path shipped = lessons_dir() / (name + ".lesson");
  if (fs::is_regular_file(shipped, ec)) return shipped;
  if (fs::is_regular_file(name, ec)) return fs::path(name);
  std::string known;
  for (const auto& e : list_lessons(lessons_dir())) known += (known.empty() ? "" : ", ") + e.name;
  error = "no lesson named '" + name + "' (shipped: " + (known.empty() ? "none found in " + lessons_dir().string() : known) +
          "; or give a file's path)";
  return std::nullopt;
}

std::vector<Span> spans(const std::string& p) {
  std::vector<Span> out;
  std::string cur;
  bool bold = false, code = false;
  auto flush = [&] {
    if (!cur.empty()) out.push_back({cur, bold, code});
    cur.clear();
  };
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!code && p.compare(i, 2, "**") == 0) {
      flush();
      bold = !bold;
      ++i;
    } else if (p[i] == '`') {
      flush();
      code = !code;
    } else {
      cur += p[i];
    }
  }
  flush();
  return out;
}

}  // namespace sockscope::lesson
