// The session model as JSON, for tests and course authors: the process tree
// (with roles, states and /proc presence), connections and counts, and who
// is parked at which gate (folded from the log).
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "session/session.h"

namespace sockscope::app {

nlohmann::json model_to_json(const session::Session& s);
// Written to a temporary name and renamed, so a reader never sees half a file.
// `extra` (an object) is merged in: what the views drew, e.g. the code
// view's cursors (see script.cpp).
bool write_model_json(const session::Session& s, const std::filesystem::path& path, std::string& error,
                      const nlohmann::json& extra = nlohmann::json::object());

}  // namespace sockscope::app
