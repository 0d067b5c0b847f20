#!/usr/bin/env bash
# Runs weir's whole test suite: unit, table-driven, differential and end-to-end tests.
# Installs what the tests need on a fresh Debian machine (InfluxDB 1.x from Debian's packages,
# pyarrow/duckdb from PyPI) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Reuse a target directory outside the clone when one exists (CI caches it).
if [[ -z "${CARGO_TARGET_DIR:-}" && -d /work/target ]]; then
  export CARGO_TARGET_DIR=/work/target
fi

need_influxd() {
  command -v influxd >/dev/null 2>&1
}
if ! need_influxd && [[ "${WEIR_SKIP_INSTALL:-}" != "1" ]]; then
  echo "installing influxdb (Debian package) for the differential tests" >&2
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq influxdb >/dev/null 2>&1 || \
    echo "warning: could not install influxdb; tests that need influxd will fail" >&2
fi

# The MQTT broker and client the alert handler tests publish to and subscribe from.
if { ! command -v mosquitto >/dev/null 2>&1 || ! command -v mosquitto_sub >/dev/null 2>&1; } && [[ "${WEIR_SKIP_INSTALL:-}" != "1" ]]; then
  echo "installing mosquitto (Debian package) for the MQTT alert handler tests" >&2
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto mosquitto-clients >/dev/null 2>&1 || \
    echo "warning: could not install mosquitto; the MQTT handler test will fail" >&2
fi

# Python packages the compatibility tests use (Prometheus parser, Parquet readers, S3 server,
# the SMTP server the email alert handler test sends to).
PY_PKGS=(prometheus_client pyarrow duckdb pandas "moto[server]" aiosmtpd)
if ! python3 -c "import prometheus_client, pyarrow, duckdb, pandas, moto, aiosmtpd" >/dev/null 2>&1 \
   && [[ "${WEIR_SKIP_INSTALL:-}" != "1" ]]; then
  echo "installing Python test dependencies: ${PY_PKGS[*]}" >&2
  python3 -m pip install -q "${PY_PKGS[@]}" >/dev/null 2>&1 || \
    echo "warning: pip install failed; compatibility tests will fail" >&2
fi

# The end-to-end tests run the real binary. Built with the same targets (hence the same
# dependency features) as the test run below, so DataFusion is compiled once, not twice.
cargo build --workspace --all-targets
cargo test --workspace --all-targets
# Doc tests too.
cargo test --workspace --doc
