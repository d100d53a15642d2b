/*
 * A Kafka cluster for tests and benchmarks: librdkafka's own mock cluster (rdkafka_mock.h), N brokers on
 * loopback. Prints "BOOTSTRAP host:port,host:port,..." on one line, then serves until stdin closes, "quit",
 * SIGINT or SIGTERM. Commands on stdin, one a line, each answered with "OK" or "ERROR …":
 *   down ID | up ID            one broker stops / starts answering (its connections are closed)
 *   down-all | up-all          every broker
 *   topic NAME PARTITIONS      create a topic (before anyone auto-creates it)
 *   topic-error NAME CODE      the topic's metadata answers with Kafka error CODE (29: not authorised), 0 to clear
 *   request-errors API CODE N  the next N requests of API key API (0: Produce) to any broker fail with CODE
 *                              (10: message too large)
 *
 * Build: cc -O2 -o mock_cluster Tests/kafka/mock_cluster.c $(pkg-config --cflags --libs rdkafka)
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stopping = 0;

static void on_signal(int number) {
    (void)number;
    stopping = 1;
}

static int set_all(rd_kafka_mock_cluster_t *cluster, int brokers, int up) {
    for (int id = 1; id <= brokers; id++) {
        rd_kafka_resp_err_t err = up ? rd_kafka_mock_broker_set_up(cluster, id) : rd_kafka_mock_broker_set_down(cluster, id);
        if (err) return (int)err;
    }
    return 0;
}

int main(int argc, char **argv) {
    int brokers = argc > 1 ? atoi(argv[1]) : 3;
    if (brokers < 1 || brokers > 16) {
        fprintf(stderr, "usage: mock_cluster [BROKERS (1-16, default 3)]\n");
        return 2;
    }
    char error[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle only owns the cluster: it never connects anywhere. */
    if (rd_kafka_conf_set(conf, "log_level", "3", error, sizeof(error)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "mock_cluster: %s\n", error);
        return 1;
    }
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
    if (!owner) {
        fprintf(stderr, "mock_cluster: %s\n", error);
        return 1;
    }
    rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(owner, brokers);
    if (!cluster) {
        fprintf(stderr, "mock_cluster: cannot create the cluster\n");
        return 1;
    }
    /* Without SA_RESTART: a signal interrupts the fgets below, so SIGINT/SIGTERM end an idle helper at once. */
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(cluster));
    fflush(stdout);

    char line[1024];
    while (!stopping && fgets(line, sizeof(line), stdin)) {
        char command[64] = {0}, name[512] = {0};
        int number = 0, count = 0;
        int fields = sscanf(line, "%63s %511s %d %d", command, name, &number, &count);
        int err = -1;
        if (fields >= 1 && strcmp(command, "quit") == 0) break;
        if (fields == 2 && strcmp(command, "down") == 0) err = rd_kafka_mock_broker_set_down(cluster, atoi(name));
        else if (fields == 2 && strcmp(command, "up") == 0) err = rd_kafka_mock_broker_set_up(cluster, atoi(name));
        else if (fields == 1 && strcmp(command, "down-all") == 0) err = set_all(cluster, brokers, 0);
        else if (fields == 1 && strcmp(command, "up-all") == 0) err = set_all(cluster, brokers, 1);
        else if (fields == 3 && strcmp(command, "topic") == 0) err = rd_kafka_mock_topic_create(cluster, name, number, brokers < 3 ? brokers : 3);
        else if (fields == 4 && strcmp(command, "request-errors") == 0 && count > 0 && count <= 1000) {
            rd_kafka_resp_err_t errors[1000];
            for (int i = 0; i < count; i++) errors[i] = (rd_kafka_resp_err_t)number;
            rd_kafka_mock_push_request_errors_array(cluster, (int16_t)atoi(name), (size_t)count, errors);
            err = 0;
        } else if (fields == 3 && strcmp(command, "topic-error") == 0) {
            rd_kafka_mock_topic_set_error(cluster, name, (rd_kafka_resp_err_t)number);
            err = 0;
        }
        if (err == 0) printf("OK\n");
        else if (err == -1) printf("ERROR unknown command: %s", line);
        else printf("ERROR %s\n", rd_kafka_err2str((rd_kafka_resp_err_t)err));
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(owner);
    return 0;
}
