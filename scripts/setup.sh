#!/usr/bin/env bash
# Installs what is missing on a fresh Debian machine with the Swift toolchain: the three C libraries
# (Avro C, libmicrohttpd, SQLite), pkg-config, curl (the HTTP server tests drive it), libpq (the WAL
# source's client library), the PostgreSQL server (the WAL source tests start a throwaway cluster) and
# GnuTLS (the registry client's https; libmicrohttpd-dev pulls it in too, but the client needs it itself) and
# librdkafka (the WAL source's Kafka producer; its mock cluster is the tests' Kafka).
# Safe to run again; does nothing when all is there.
set -euo pipefail

packages=(pkg-config curl libavro-dev libmicrohttpd-dev libsqlite3-dev libpq-dev nettle-dev libgnutls28-dev postgresql librdkafka-dev)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: the Swift toolchain (swift) is not on PATH" >&2; exit 1; }
