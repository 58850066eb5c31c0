#!/bin/sh
# Healthy when the main HAProxy process answers `show info` on its admin socket.
set -eu
printf 'show info\n' | socat -t 2 - UNIX-CONNECT:/run/grapevine-haproxy/admin.sock | grep -q '^Name: HAProxy'
