"""A throwaway PostgreSQL cluster for the WAL source tests: initdb into a temporary directory, start on a
free loopback port with logical replication on, stop and remove on teardown.

As root the cluster runs as the `postgres` system user (PostgreSQL refuses to run as root); otherwise as
the current user.
"""
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time


def postgres_bin_dir():
    """The newest /usr/lib/postgresql/VERSION/bin that has initdb and pg_ctl (else pg_config --bindir)."""
    candidates = []
    for path in glob.glob("/usr/lib/postgresql/*/bin"):
        match = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/bin$", path)
        if match and os.path.exists(os.path.join(path, "initdb")) and os.path.exists(os.path.join(path, "pg_ctl")):
            candidates.append(((int(match.group(1)), int(match.group(2) or 0)), path))
    if candidates:
        return max(candidates)[1]
    pg_config = shutil.which("pg_config")
    if pg_config:
        path = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        if os.path.exists(os.path.join(path, "initdb")):
            return path
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise RuntimeError("PostgreSQL server binaries not found (install the Debian package postgresql: scripts/setup.sh does)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    """`start()` then `conninfo`; `stop()` removes everything."""

    def __init__(self):
        self.bin_dir = postgres_bin_dir()
        self.root = None
        self.data_dir = None
        self.port = None
        self.running = False
        self.as_postgres = os.geteuid() == 0

    @property
    def conninfo(self):
        return self.conninfo_for("postgres")

    def conninfo_for(self, dbname):
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user=postgres"

    @property
    def log_path(self):
        return os.path.join(self.data_dir, "server.log")

    def _run(self, *arguments, check=True, timeout=120):
        command = [os.path.join(self.bin_dir, arguments[0]), *arguments[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # The cluster's own directory as working directory: the postgres user may not enter ours.
        result = subprocess.run(command, cwd=self.data_dir, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}\n{self.server_log()}")
        return result

    def server_log(self):
        try:
            with open(self.log_path, errors="replace") as file:
                return "--- server.log ---\n" + file.read()[-8000:]
        except OSError:
            return ""

    def _make_data_dir(self, prefix):
        # Root-owned, world-traversable parent; the data directory inside it belongs to postgres, mode 0700.
        self.root = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.root, 0o755)
        self.data_dir = os.path.join(self.root, "data")
        os.mkdir(self.data_dir, 0o700)
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)

    def _start_server(self):
        last_error = None
        for _ in range(5):  # the free port may be taken between probing and binding: try another
            self.port = free_port()
            options = (
                f"-c wal_level=logical -c max_wal_senders=10 -c max_replication_slots=10 -c port={self.port} "
                f"-c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data_dir} -c fsync=off"
            )
            result = self._run("pg_ctl", "-D", self.data_dir, "-l", self.log_path, "-w", "-t", "60", "-o", options, "start", check=False)
            if result.returncode == 0:
                self.running = True
                self.options = options
                return self
            last_error = f"pg_ctl start exited {result.returncode}:\n{result.stdout}\n{result.stderr}\n{self.server_log()}"
            if "Address already in use" not in last_error and "could not bind" not in last_error:
                break
        raise RuntimeError(last_error)

    def start(self):
        self._make_data_dir("pgwal-")
        try:
            self._run("initdb", "-D", self.data_dir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
            return self._start_server()
        except BaseException:
            self.stop()
            raise

    def start_standby_of(self, primary):
        """A streaming standby of `primary` (pg_basebackup with its WAL, hot standby), on its own port."""
        self._make_data_dir("pgwal-standby-")
        try:
            self._run("pg_basebackup", "-D", self.data_dir, "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-R", "-X", "stream", "--no-sync")
            return self._start_server()
        except BaseException:
            self.stop()
            raise

    def promote(self):
        """Ends recovery: the standby becomes a primary on a new timeline."""
        self._run("pg_ctl", "-D", self.data_dir, "-w", "-t", "60", "promote")

    def restart(self, mode="fast"):
        """Stops the server (`fast`: a clean shutdown; `immediate`: as a crash) and starts it again on
        the same port and data."""
        self._run("pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "-t", "60", "stop")
        self._run("pg_ctl", "-D", self.data_dir, "-l", self.log_path, "-w", "-t", "60", "-o", self.options, "start")

    def stop_for(self, seconds):
        """Stops the server cleanly, waits `seconds`, and starts it again."""
        import time
        self._run("pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "-t", "60", "stop")
        time.sleep(seconds)
        self._run("pg_ctl", "-D", self.data_dir, "-l", self.log_path, "-w", "-t", "60", "-o", self.options, "start")

    def stop(self):
        try:
            if self.running:
                self._run("pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "-t", "60", "stop", check=False)
                self.running = False
        finally:
            if self.root:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None


def wait_until(predicate, timeout, interval=0.1, message="condition"):
    """Calls `predicate` until it returns something truthy (returned) or `timeout` seconds pass (raises)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)
