#pragma once
// Sub-commands of the xmr command-line tool (docs/cli.md).

#include <CLI/CLI.hpp>
#include <string>

namespace xmr::cli {

/// `xmr build`: an index file from .npy embeddings or codes (search_cmd.cpp).
void add_build_command(CLI::App& app);
/// `xmr search`: k-NN search from .npy files or an index file; two-stage (search_cmd.cpp).
void add_search_command(CLI::App& app);
/// `xmr eval map|recall|...`: metrics (eval_cmd.cpp).
void add_eval_command(CLI::App& app);
/// `xmr binarize train|apply` (binarize_cmd.cpp).
void add_binarize_command(CLI::App& app);
/// `xmr info [FILE]` (info.cpp).
void add_info_command(CLI::App& app);
/// `xmr demo`: cross-modal retrieval on generated data or a user's files (demo.cpp).
void add_demo_command(CLI::App& app);

/// Runs the tool on argv; returns the process exit code (0 success, 2 usage, 3 bad input, 4
/// resources, 1 other: docs/cli.md). Never throws.
int run(int argc, char** argv);

}  // namespace xmr::cli
