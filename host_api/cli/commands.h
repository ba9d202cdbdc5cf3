#pragma once
// Sub-commands of the xmr command-line tool.

#include <CLI/CLI.hpp>

namespace xmr::cli {

/// Registers `xmr demo`: cross-modal retrieval on generated data, both directions.
void add_demo_command(CLI::App& app);

}  // namespace xmr::cli
