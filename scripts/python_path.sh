#!/usr/bin/env bash
# Makes `import xmr` work for Debian's /usr/bin/python3 (and any Python 3 of the same version that
# reads the same user site-packages) from the Python package of a build tree: writes one line, the
# package's parent folder, to xmr.pth in that interpreter's user site-packages (what
# `pip install --user -e` does). Running it again for another build replaces the line.
#   scripts/python_path.sh BUILD_DIR
set -euo pipefail
build="${1:?usage: scripts/python_path.sh BUILD_DIR}"
python=/usr/bin/python3
[ -x "$python" ] || python=python3
package_parent="$(cd "$build" && pwd)/python"
if [ ! -f "$package_parent/xmr/__init__.py" ]; then
  echo "python_path: no Python module in $build (configure with pybind11-dev and python3-dev installed)" >&2
  exit 1
fi
if [ "$("$python" -c 'import site; print(int(bool(site.ENABLE_USER_SITE)))')" != 1 ]; then
  echo "python_path: user site-packages are disabled for $python; use PYTHONPATH=$package_parent" >&2
  exit 0
fi
site_dir="$("$python" -m site --user-site)"
mkdir -p "$site_dir"
echo "$package_parent" >"$site_dir/xmr.pth"
echo "python_path: 'import xmr' now loads $package_parent/xmr ($python, via $site_dir/xmr.pth)"
"$python" -c "import xmr; print('python_path: xmr', xmr.__version__, '-', xmr.device_summary())"
