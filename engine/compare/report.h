// A comparison's rows as text: the terminal table, Markdown, CSV, JSON and
// JSON Lines. One table of columns (columns()) says what each column is;
// every format, and the app's Compare window, reads it.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "compare/compare.h"

namespace sockscope::compare {

struct Column {
  std::string_view key;     // JSON/CSV name: "replies_per_s"
  std::string_view header;  // short heading: "req/s"
  std::string_view help;    // one line: what it measures and where from
  int decimals = 0;         // how the table prints it
  bool chart = false;       // one of the Compare window's bar charts
  bool lower_is_better = false;
  // The value, or nullopt when the row has none (trace columns of a
  // reference, anything of a row that did not run).
  std::function<std::optional<double>(const Row&)> value;
};

// Every numeric column, in the order the tables print them.
std::span<const Column> columns();
const Column* find_column(std::string_view key);

// "held scenario, http, 20 clients, 1.5 s each; 2 CPUs, Linux ...; when".
std::string describe(const Result& r);
// "fork", "nginx-1 (reference)".
std::string row_label(const Row& r);
// The value as the tables print it ("12,345", "0.42", "" when none).
std::string cell_text(const Column& c, const Row& r);

// The terminal table: a header, one line per row, then each row's status
// when it is not "ok", and "incomplete" when the run was cut short.
std::string text_table(const Result& r);
std::string markdown(const Result& r);
void write_csv(const Result& r, std::ostream& out);
void write_json(const Result& r, std::ostream& out);
// JSON Lines: a header line ({"compare": ...}), then per row its line
// ({"row": ..., "session_lines": N}) followed by the N lines of that run's
// session log (session::write_jsonl's format) when `sessions` has it.
void write_jsonl(const Result& r, std::span<const std::string> sessions, std::ostream& out);

// By the file's extension: .md, .csv, .json, .jsonl. False with `error` set
// (naming the file and the reason) otherwise.
bool write_by_extension(const Result& r, std::span<const std::string> sessions, const std::filesystem::path& path,
                        std::string& error);
// ".md, .csv, .json, .jsonl" for messages.
std::string_view export_extensions();

}  // namespace sockscope::compare
