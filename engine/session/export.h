// Export and import of sessions.
//
//  * JSON Lines: the canonical, versioned, re-importable log. Line 1 is a
//    header {"magic":"sockscope-session","version":1,"trace_version":N, meta...,
//    "drops":N,"events":N,"snapshots":N}; then one line per event
//    {"t":ns,"pid":..,"tid":..,"kind":"accept","conn":..,"a":..,"b":..,"text":".."}
//    (text that is not valid UTF-8 is written as "text_hex" instead, so every
//    byte survives the round trip), and one line per /proc snapshot
//    {"snapshot":{"t":ns,"root":pid,"procs":[...]}}.
//  * Chrome trace JSON ({"traceEvents":[...]}, opens in Perfetto and
//    chrome://tracing): one track per process/thread with names, a span per
//    child lifetime and per handled connection, flows from accept to handler,
//    instants for everything else.
//  * CSV: one row per event, with a header row.
//  * Narrative: plain text, a short human story of the run ending with summary().
//
// Every writer writes to a temporary name in the target's directory and then
// rename()s it over the target, so a reader never sees half a file and a
// failed export leaves nothing behind. Writers return false and set `error`
// (naming the path and the reason) on failure. `progress`, when given, is
// called with values in [0, 1] from the calling thread.
#pragma once

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>

#include "session/session.h"

namespace sockscope::session {

inline constexpr const char* kSessionMagic = "sockscope-session";
inline constexpr int kSessionVersion = 1;
// Lines longer than this are refused on import (a corrupt or hostile file).
inline constexpr std::size_t kMaxLineBytes = 1u << 20;

using ProgressFn = std::function<void(double)>;

bool write_jsonl(const Session& s, const std::filesystem::path& path, std::string& error,
                 const ProgressFn& progress = {});
bool write_chrome_trace(const Session& s, const std::filesystem::path& path, std::string& error,
                        const ProgressFn& progress = {});
bool write_csv(const Session& s, const std::filesystem::path& path, std::string& error,
               const ProgressFn& progress = {});
bool write_narrative(const Session& s, const std::filesystem::path& path, std::string& error,
                     const ProgressFn& progress = {});
// Any text (a lesson's summary beside its session), written the same way.
bool write_text_file(const std::filesystem::path& path, const std::string& text, std::string& error);

// Picks the format from the extension: .jsonl → JSON Lines, .json → Chrome
// trace, .csv → CSV, .txt → narrative. Anything else, or a directory, is
// refused (see export_path_problem) and nothing is written.
bool write_by_extension(const Session& s, const std::filesystem::path& path, std::string& error,
                        const ProgressFn& progress = {});
// "" when `path` can take an export by its extension, else why not: "x.xlsx:
// unknown extension '.xlsx' (.jsonl, .json, .csv or .txt)", "out/: a
// directory; give a file name".
std::string export_path_problem(const std::filesystem::path& path);

// The same content as strings/streams (tests, `run` printing the narrative).
void write_jsonl(const Session& s, std::ostream& out, const ProgressFn& progress = {});
void write_chrome_trace(const Session& s, std::ostream& out, const ProgressFn& progress = {});
void write_csv(const Session& s, std::ostream& out, const ProgressFn& progress = {});
std::string narrative(const Session& s);

// Reads a JSON Lines session. On any problem — wrong magic or version, a
// truncated or malformed line, an unknown kind, a line over kMaxLineBytes,
// fewer records than the header announced — returns nullopt, loads nothing,
// and sets `error` to "<path>: line N: <reason>".
std::optional<Session> read_jsonl(const std::filesystem::path& path, std::string& error,
                                  const ProgressFn& progress = {});
// The same from a stream; `name` is used in error messages.
std::optional<Session> read_jsonl(std::istream& in, const std::string& name, std::string& error);

}  // namespace sockscope::session
