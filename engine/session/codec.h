// The JSON shape of one event, one snapshot and the header line of a JSON
// Lines session, shared by the writer (export.cpp) and the reader
// (import.cpp) so that the two cannot drift apart; defined in codec.cpp.
// Internal to the session library.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "session/session.h"

namespace sockscope::session::codec {

using nlohmann::json;
// Written records keep their keys in the documented order (magic first).
using ojson = nlohmann::ordered_json;

bool valid_utf8(std::string_view s);
// Strings from /proc or the network are bytes, JSON strings are UTF-8: keep
// valid text as is, replace each invalid byte with '?' (for display strings).
std::string display_utf8(std::string_view s);
std::string to_hex(std::string_view bytes);
bool from_hex(std::string_view hex, std::string& out);

ojson event_to_json(const trace::Event& e);
// The same record as event_to_json(e).dump(), formatted by hand: events are
// most of a session and this is several times faster. Appends a newline.
void append_event_line(std::string& out, const trace::Event& e);
ojson snapshot_to_json(const ProcSnapshot& s);
ojson header_to_json(const Session& s);

// Each returns false and sets `why` to a reason naming the field.
bool event_from_json(const json& j, trace::Event& out, std::string& why);
bool snapshot_from_json(const json& j, ProcSnapshot& out, std::string& why);

}  // namespace sockscope::session::codec
