// xmr: the command-line tool.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "commands.h"
#include "xmr/xmr.h"

int main(int argc, char** argv) {
  CLI::App app{"xmr: cross-modal (image-text) retrieval engine"};
  app.require_subcommand(1);
  auto* info = app.add_subcommand(
      "info", "Print the version and the compute devices xmr sees, or what an index file holds (xmr info FILE)");
  static std::string info_file;
  info->add_option("file", info_file, "an index file: print its header (no data is read)");
  info->callback([] {
    if (info_file.empty()) {
      std::printf("xmr %s (%s)\n%s\n", xmr::version(), xmr::built_with_cuda() ? "CUDA build" : "CPU-only build",
                  xmr::device_summary().c_str());
      return;
    }
    xmr::cli::print_index_info(info_file);
  });
  xmr::cli::add_demo_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const xmr::Error& e) {
    std::fprintf(stderr, "xmr: error (%s): %s\n", xmr::to_string(e.code()), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xmr: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
