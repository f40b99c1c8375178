#!/usr/bin/env bash
# Makes Debian's Chromium available for the browser tests (tests/e2e/test_docs_browser.py drives
# it headless through Playwright; nothing is downloaded by Playwright itself). Installs it only
# when missing and when we may (root with apt-get); otherwise says why and leaves those tests to
# skip with that reason. About 30 s and 460 MiB on Debian 12.
set -u
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: Chromium not installed and cannot install it here;" \
       "browser tests will be skipped" >&2
  exit 0
fi
echo "ensure-chromium: installing Debian's chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null \
  || echo "ensure-chromium: install failed; browser tests will be skipped" >&2
exit 0
