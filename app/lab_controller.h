// The app's name for the lab's controller (engine/lab/controller.h): the one
// path from the user to the lab. The controls' buttons, the --script runner
// and the lesson player all call it, so a scripted screenshot shows exactly
// what clicking would have done.
#pragma once

#include "lab/controller.h"

namespace sockscope::app {

using lab::ClientRequest;
using lab::find_free_port;
using lab::kDefaultLessonPort;
using LabController = lab::Controller;

}  // namespace sockscope::app
