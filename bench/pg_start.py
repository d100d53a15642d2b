"""Starts a throwaway PostgreSQL cluster for a benchmark (Tests/interop/pg_cluster.py, fsync off as in the
tests) and prints shell assignments: PG_PORT, PG_DATA, PG_ROOT, PG_BIN, PG_AS_POSTGRES."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "interop"))
from pg_cluster import PostgresCluster  # noqa: E402

cluster = PostgresCluster().start()
print(f"PG_PORT={cluster.port} PG_DATA={cluster.data_dir} PG_ROOT={cluster.root} PG_BIN={cluster.bin_dir} PG_AS_POSTGRES={int(cluster.as_postgres)}")
