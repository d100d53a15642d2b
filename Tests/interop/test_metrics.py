"""/metrics of the real server, scraped and parsed with prometheus_client's text-format parser (the one Prometheus'
own client library ships): every line parses, every family has HELP and TYPE, and the operators' metrics move as
the registrations, the rejection, the fetches and a held keep-alive connection say they must."""
import json
import socket
import time

from prometheus_client.parser import text_string_to_metric_families

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def scrape(session, url):
    """{(name, labels as a sorted tuple): value}, and the families; fails on any line the parser cannot read, and on a
    sample line it would skip."""
    text = session.get(url + "/metrics").text
    families = list(text_string_to_metric_families(text))  # raises ValueError on a line it cannot parse
    samples = {}
    for family in families:
        assert family.documentation, f"{family.name} has no HELP"
        assert family.type != "unknown", f"{family.name} has no TYPE"
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    sample_lines = [line for line in text.split("\n") if line and not line.startswith("#")]
    assert len(sample_lines) == len(samples), "a sample line was dropped or repeated"
    for line in text.split("\n"):
        if line.startswith("# TYPE ") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line
    return samples, families


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def record(name, *fields):
    return json.dumps({"type": "record", "name": name, "fields": [{"name": f, "type": t, **({"default": d} if d is not None else {})}
                                                                 for f, t, d in fields]})


def test_operator_metrics_parse_and_count_what_happened(registry, session):
    url = registry.url
    before, _ = scrape(session, url)
    assert session.put(f"{url}/config/full-subject", data=json.dumps({"compatibility": "FULL"})).status_code == 200
    # Three registrations under BACKWARD (the default), two under FULL, then one FULL refuses.
    for number, schema in enumerate([record("A", ("a", "int", None)), record("A", ("a", "int", None), ("b", "int", 0)),
                                     record("A", ("a", "int", None), ("b", "int", 0), ("c", "string", ""))]):
        assert session.post(f"{url}/subjects/backward-subject/versions", data=json.dumps({"schema": schema})).status_code == 200, number
    for schema in [record("F", ("a", "int", None)), record("F", ("a", "int", None), ("b", "int", 0))]:
        assert session.post(f"{url}/subjects/full-subject/versions", data=json.dumps({"schema": schema})).status_code == 200
    refused = session.post(f"{url}/subjects/full-subject/versions", data=json.dumps({"schema": record("F", ("z", "long", None))}))
    assert refused.status_code == 409
    for _ in range(5):
        assert session.get(f"{url}/schemas/ids/1").status_code == 200
    # Two of the HTTP server's own refusals (a request target past 8 KiB: 414) are counted too.
    for _ in range(2):
        assert session.get(f"{url}/subjects?q=" + "x" * 9000).status_code == 414

    # A connection held open (kept alive after its request) while another scrapes.
    held = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
    try:
        held.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held.recv(4096).startswith(b"HTTP/1.1 200")
        after, families = scrape(session, url)
        assert value(after, "schema_registry_open_connections") >= 2  # the held one and the scraping one
    finally:
        held.close()

    names = {family.name for family in families}
    for name in ["schema_registry_registrations", "schema_registry_compatibility_rejections", "schema_registry_storage_errors",
                 "schema_registry_group_commit_batch_size", "schema_registry_group_commit_duration_seconds", "schema_registry_cache_bytes",
                 "schema_registry_open_connections", "process_resident_memory_bytes", "process_start_time_seconds",
                 "schema_registry_requests", "schema_registry_request_duration_seconds"]:
        assert name in names, name

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("schema_registry_registrations_total", level="BACKWARD") == 3
    assert delta("schema_registry_registrations_total", level="FULL") == 2
    assert delta("schema_registry_compatibility_rejections_total", level="FULL") == 1
    assert delta("schema_registry_compatibility_rejections_total", level="BACKWARD") == 0
    assert value(after, "schema_registry_storage_errors_total") == 0
    # Five registrations made durable by group commits: the batch sizes add up to them.
    assert delta("schema_registry_group_commit_batch_size_sum") == 5
    assert 1 <= delta("schema_registry_group_commit_batch_size_count") <= 5
    assert delta("schema_registry_group_commit_duration_seconds_count") >= delta("schema_registry_group_commit_batch_size_count")
    assert 0 < delta("schema_registry_group_commit_duration_seconds_sum") < 10
    assert value(after, "schema_registry_group_commit_batch_size_bucket", le="+Inf") == value(after, "schema_registry_group_commit_batch_size_count")
    assert delta("schema_registry_requests_total", route="/schemas/ids/{id}", status="200") == 5
    assert delta("schema_registry_requests_total", route="refused", status="414") == 2
    assert value(after, "process_resident_memory_bytes") > 1 << 20
    assert time.time() - 3600 < value(after, "process_start_time_seconds") <= time.time()
    assert value(after, "schema_registry_cache_bytes", cache="parsed") > 0
