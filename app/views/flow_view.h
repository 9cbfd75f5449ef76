// Connection flow: a sequence diagram of the newest few connections. A lane
// per client, the listener (or event loop) and each handler process or
// thread; an arrow per system call between them (connect/accept, the handoff
// by fork, pthread_create or the queue, each request and reply, close), notes
// for what stays inside one thread (recv, exit, the counter), and the reap.
// The step just taken through a gate is highlighted, with one sentence saying
// what its system call did. The picture is session::fold_flow() at the frame's
// instant, so a recording shows what the live run showed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "frame.h"
#include "session/flow.h"

namespace sockscope::app {

// Fitting the diagram's text into its width, computed apart from drawing
// (testable without a window). Nothing is drawn past the diagram's edges:
// what does not fit is shortened with "…", and the row's or the lane's
// tooltip holds the whole text.
struct LabelPlace {
  float x = 0;      // where the text starts
  float room = 0;   // the width it may take
  bool cut = false; // the text is wider than `room`: shorten it
};
// A note beside the dot at `dot_x`: right of it when it fits before
// `max_x`, else left of it, else on the side with more room.
LabelPlace place_note_label(float dot_x, float gap, float text_w, float min_x, float max_x);
// An arrow's label between `x1` and `x2`: centred on it, kept inside [min_x, max_x].
LabelPlace place_arrow_label(float x1, float x2, float text_w, float min_x, float max_x);
// `text`, or its longest head that fits in `max_w` followed by "…", as
// `width_of` measures it; never splits a UTF-8 character.
std::string fit_text(std::string_view text, float max_w, const std::function<float(std::string_view)>& width_of);

struct FlowView {
  int max_connections = 4;  // the "newest N connections" slider
  void draw(FrameContext& ctx);
  // The diagram of the last frame drawn (tests).
  const session::FlowDiagram& diagram() const { return diagram_; }
  // The text the last frame drew in the diagram, and the box it had to stay
  // in (the lane's header box, or the diagram's width for the rows): tests
  // check that nothing is drawn past its box.
  struct DrawnText {
    std::string text;
    float x0 = 0, x1 = 0;        // the text's extent
    float min_x = 0, max_x = 0;  // its box
  };
  const std::vector<DrawnText>& drawn_text() const { return drawn_text_; }

 private:
  void draw_step();
  void draw_diagram(const FrameContext& ctx);
  session::FlowDiagram diagram_;
  std::vector<DrawnText> drawn_text_;
  const session::Session* folded_session_ = nullptr;
  std::uint64_t folded_generation_ = ~std::uint64_t{0};
  std::uint64_t folded_at_ = 0;
  int folded_max_ = 0;
  std::size_t shown_messages_ = 0;  // scroll to the bottom when this grows
  int scrolled_to_step_ = -1;
  float scrolled_height_ = 0.0f;
};

}  // namespace sockscope::app
