#!/bin/sh
# ensure-package.sh PROGRAM PACKAGE WHAT
# Installs Debian's PACKAGE with apt-get when PROGRAM (a command name or a path) is missing and we
# run as root; otherwise says that WHAT will be skipped. Never fails: the caller's rows or tests skip
# with their own reason when the program is still absent.
program=$1 package=$2 what=$3
if command -v "$program" >/dev/null 2>&1 || [ -x "$program" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "$program not found; installing $package with apt-get (for $what)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null; } \
    || echo "could not install $package; $what will be skipped"
else
  echo "$program not found; $what will be skipped (install it: sudo apt-get install $package)"
fi
exit 0
