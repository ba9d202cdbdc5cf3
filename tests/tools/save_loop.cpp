// xmr_save_loop PATH FIRST: saves versions FIRST, FIRST+1, ... of a deterministic index to PATH,
// forever (until killed), writing 'S' to stdout as each save starts and 'D' as it completes.
// test_persistence kills it at random moments and checks that PATH is always a whole, valid file
// holding one complete version (tests/test_persistence.cpp, Persistence.KillDuringSave).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include "save_loop_index.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PATH FIRST_VERSION\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const std::int64_t first = std::strtoll(argv[2], nullptr, 10);
  for (std::int64_t v = first;; ++v) {
    const xmr_test::VersionedIndex x = xmr_test::make_version(v);
    if (::write(1, "S", 1) != 1) return 3;
    x.index.save(path, x.extras);
    if (::write(1, "D", 1) != 1) return 3;
  }
}
