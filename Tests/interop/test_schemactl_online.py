"""schemactl's registry commands against the real server, as a CI pipeline runs them."""
import os
import shutil
import subprocess
import tempfile

from conftest import REPO, server_binary

FIXTURES = os.path.join(REPO, "fixtures", "evolution")


def schemactl(*arguments, url=None, cwd=None):
    binary = os.path.join(os.path.dirname(server_binary()), "schemactl")
    environment = dict(os.environ)
    environment.pop("SCHEMA_REGISTRY_URL", None)
    if url:
        environment["SCHEMA_REGISTRY_URL"] = url
    return subprocess.run([binary, *arguments], capture_output=True, text=True, env=environment, cwd=cwd, timeout=60)


def test_bare_check_uses_the_environment_and_the_file_name(registry):
    with tempfile.TemporaryDirectory() as directory:
        users = os.path.join(directory, "users-value.avsc")
        shutil.copy(os.path.join(FIXTURES, "user-v1.avsc"), users)
        first = schemactl("check", "users-value.avsc", url=registry.url, cwd=directory)
        assert first.returncode == 0, first.stderr
        assert "does not exist yet" in first.stdout

        registered = schemactl("register", "users-value.avsc", url=registry.url, cwd=directory)
        assert registered.returncode == 0, registered.stderr
        assert "id 1" in registered.stdout

        shutil.copy(os.path.join(FIXTURES, "user-add-optional-email.avsc"), users)
        assert schemactl("check", "users-value.avsc", url=registry.url, cwd=directory).returncode == 0

        shutil.copy(os.path.join(FIXTURES, "user-add-required-email.avsc"), users)
        breaking = schemactl("check", "users-value.avsc", url=registry.url, cwd=directory)
        assert breaking.returncode == 1
        assert "READER_FIELD_MISSING_DEFAULT_VALUE" in breaking.stdout
        assert "fix:'give field `email` a default" in breaking.stdout

        refused = schemactl("register", "users-value.avsc", url=registry.url, cwd=directory)
        assert refused.returncode == 1


def test_subject_from_project_file_and_flags(registry):
    with tempfile.TemporaryDirectory() as directory:
        os.makedirs(os.path.join(directory, "schemas"))
        shutil.copy(os.path.join(FIXTURES, "order-v1.avsc"), os.path.join(directory, "schemas", "orders.avsc"))
        with open(os.path.join(directory, "schemactl.toml"), "w") as project:
            project.write('[subjects]\n"schemas/orders.avsc" = "orders-value"\n')
        assert schemactl("register", "schemas/orders.avsc", "--registry", registry.url, cwd=directory).returncode == 0
        assert schemactl("subjects", "--registry", registry.url).stdout.split() == ["orders-value"]
        fetched = schemactl("get", "--subject", "orders-value", "--registry", registry.url)
        assert fetched.returncode == 0 and '"name":"Order","namespace":"com.example.shop"' in fetched.stdout
        assert '"name":"Order","namespace":"com.example.shop"' in schemactl("get", "--id", "1", "--registry", registry.url).stdout
        assert schemactl("get", "--id", "99", "--registry", registry.url).returncode == 2
        assert schemactl("config", "--registry", registry.url).stdout.strip() == "BACKWARD"
        changed = schemactl("config", "--subject", "orders-value", "--set", "full", "--registry", registry.url)
        assert changed.stdout.strip() == "FULL"


def test_unreachable_registry_exits_3():
    result = schemactl("check", os.path.join(FIXTURES, "user-v1.avsc"), "--subject", "x", "--registry", "http://127.0.0.1:9")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "unavailable" in result.stderr
    assert schemactl("subjects", url="http://127.0.0.1:9").returncode == 3
