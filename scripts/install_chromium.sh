#!/bin/sh
# Debian's Chromium (and ChromeDriver) for the browser tests (tests/api/test_web.py), which
# drive it headless with Playwright. Nothing to do when AUTOINTERP_CHROMIUM names a browser
# or `chromium` is already on PATH. Needs root or password-less sudo to install.
set -e
if [ -n "$AUTOINTERP_CHROMIUM" ] && [ -x "$AUTOINTERP_CHROMIUM" ]; then exit 0; fi
if command -v chromium >/dev/null 2>&1; then exit 0; fi
hint="install Chromium (Debian/Ubuntu: apt-get install chromium) or set AUTOINTERP_CHROMIUM to a Chromium/Chrome binary"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/install_chromium.sh: no apt-get here; $hint" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "scripts/install_chromium.sh: not root and no password-less sudo; $hint" >&2
        exit 1
    fi
fi
echo "installing Debian's chromium and chromium-driver for the browser tests"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
command -v chromium
