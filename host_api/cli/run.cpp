// The tool's entry: registers the commands, parses, runs, and turns every failure into a message
// on stderr and a documented exit code (docs/cli.md):
//   0 success; 1 an internal error or an unexpected exception; 2 a command-line usage error;
//   3 bad input (a file that cannot be read, is malformed or has the wrong type or shape; data
//     xmr rejects: InvalidArgument, CorruptData, Io); 4 resources (OutOfMemory, Unavailable,
//     Device: e.g. --device gpu without a GPU).
#include <cstdio>
#include <exception>
#include <new>

#include "commands.h"
#include "npy.h"
#include "xmr/xmr.h"

namespace xmr::cli {
namespace {

int exit_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument:
    case ErrorCode::CorruptData:
    case ErrorCode::Io: return 3;
    case ErrorCode::OutOfMemory:
    case ErrorCode::Unavailable:
    case ErrorCode::Device: return 4;
    default: return 1;
  }
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{
      "xmr: cross-modal (image-text) retrieval engine. Exit codes: 0 success, 1 internal error, 2 usage "
      "error, 3 bad input (file or data), 4 out of memory / device unavailable. docs/cli.md"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("xmr ") + version());
  add_build_command(app);
  add_search_command(app);
  add_eval_command(app);
  add_binarize_command(app);
  add_info_command(app);
  add_demo_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, the version, or the error with a usage hint
    return code == 0 ? 0 : 2;
  } catch (const NpyError& e) {
    std::fprintf(stderr, "xmr: error: %s\n", e.what());
    return 3;
  } catch (const Error& e) {
    std::fprintf(stderr, "xmr: error (%s): %s\n", to_string(e.code()), e.what());
    return exit_code(e.code());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "xmr: error (OutOfMemory): host memory allocation failed\n");
    return 4;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xmr: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace xmr::cli
