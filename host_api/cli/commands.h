#pragma once
// Sub-commands of the xmr command-line tool.

#include <CLI/CLI.hpp>
#include <string>

namespace xmr::cli {

/// Registers `xmr demo`: cross-modal retrieval on generated data, both directions.
void add_demo_command(CLI::App& app);

/// `xmr info FILE`: the header of an index file (type, size, parameters, extras, sections).
void print_index_info(const std::string& path);

}  // namespace xmr::cli
