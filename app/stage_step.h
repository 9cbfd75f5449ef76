// Step by stage lives in the engine (engine/lab/stage_step.h): the Stepping
// window, the script and the lesson player drive the same StageStepper.
#pragma once

#include "lab/stage_step.h"

namespace sockscope::app {

using lab::apply_run_to;
using lab::apply_step_command;
using lab::Stage;
using lab::stage_at;
using lab::stage_name;
using lab::stage_plan;
using lab::stage_span;
using lab::StagePlan;
using lab::StageStepper;
using lab::starts_next_stage;
using lab::StepCommand;

}  // namespace sockscope::app
