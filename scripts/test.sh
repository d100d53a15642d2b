#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, runs the Swift test suites, then the HTTP
# integration and Confluent-client interoperability tests (pytest) against the real server binary.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
python3 -m pip install --quiet --disable-pip-version-check "confluent-kafka[avro,schemaregistry]" requests pytest pyyaml openapi-spec-validator "psycopg[binary]" "python-schema-registry-client==2.6.1" prometheus_client

swift build --build-tests
swift test

export SCHEMA_REGISTRY_BIN="$(swift build --show-bin-path)/schema-registry"
# The tests' Kafka: librdkafka's own mock cluster, three brokers on loopback (Tests/kafka/mock_cluster.c).
cc -O2 -Wall -o .build/mock_cluster Tests/kafka/mock_cluster.c $(pkg-config --cflags --libs rdkafka)
export KAFKA_MOCK_CLUSTER="$PWD/.build/mock_cluster"
python3 -m pytest -q -p no:cacheprovider Tests/interop
# The API suite and the Confluent-client tests once more, each test against a registry on a new
# PostgreSQL database (the PostgreSQL store must behave exactly as the SQLite one).
REGISTRY_STORE=postgresql python3 -m pytest -q -p no:cacheprovider \
    Tests/interop/test_api.py Tests/interop/test_confluent_client.py Tests/interop/test_confluent_serde.py Tests/interop/test_fidelity.py
# Every fuzz target briefly (30 s each, AddressSanitizer on), so they keep building and their kept regression
# inputs keep passing; scripts/fuzz.sh without --smoke is the long run (and the ThreadSanitizer tests).
scripts/fuzz.sh --smoke
