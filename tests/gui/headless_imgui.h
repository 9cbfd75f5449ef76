// A Dear ImGui context with no window and no renderer, for drawing the app's
// views in tests: the real fonts and theme at 1600x900, no imgui.ini.
#pragma once

#include <gtest/gtest.h>
#include <imgui.h>

#include "fonts.h"
#include "views/style.h"

namespace sockscope::gui_test {

class HeadlessImGuiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;
    io.DisplaySize = ImVec2(1600, 900);
    io.DeltaTime = 1.0f / 60.0f;
    app::load_fonts(19.0f, 1.0f);
    unsigned char* pixels = nullptr;
    int w = 0, h = 0;
    io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
    ASSERT_NE(pixels, nullptr);
    app::style::apply_theme(app::style::Theme::dark, 1.0f);
  }
  void TearDown() override { ImGui::DestroyContext(); }
};

}  // namespace sockscope::gui_test
