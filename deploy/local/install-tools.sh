#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo run for real: Prometheus (with
# promtool), Alertmanager (with amtool), node_exporter (the benchmark's peer), and Node.js
# with npm (the dashboard schema check runs TypeScript's compiler over the dashboards).
set -euo pipefail

missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
command -v prometheus-node-exporter >/dev/null || missing+=(prometheus-node-exporter)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: $packages" >&2
  echo "Install them with: sudo apt-get install -y --no-install-recommends $packages" >&2
  exit 1
fi
echo "Installing Debian packages: $packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends $packages >/dev/null
# The packages enable system services; a test machine runs its own instances instead.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
echo "Installed: $packages"
