#!/bin/sh
# Healthy when the master answers on its CLI and its current worker answers `show info`.
set -eu
printf '@1 show info\n' | socat -t 2 - UNIX-CONNECT:/run/grapevine-haproxy/master.sock | grep -q '^Name: HAProxy'
