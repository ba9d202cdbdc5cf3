// xmr: the command-line tool.
#include "commands.h"

int main(int argc, char** argv) {
  return xmr::cli::run(argc, argv);
}
