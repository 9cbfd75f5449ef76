// The session model as JSON, for tests and course authors: the process tree
// (with roles, states and /proc presence), connections and counts.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "session/session.h"

namespace sockscope::app {

nlohmann::json model_to_json(const session::Session& s);
// Written to a temporary name and renamed, so a reader never sees half a file.
bool write_model_json(const session::Session& s, const std::filesystem::path& path, std::string& error);

}  // namespace sockscope::app
