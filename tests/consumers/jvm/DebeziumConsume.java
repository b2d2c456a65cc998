// DebeziumConsume: the independent JVM consumer for Debezium JSON records. Reads a topic of
// the real broker from the beginning with the Kafka Java client and decodes every record with
// code nobody in this project wrote: Kafka Connect's JsonConverter on key and value
// (ConnectView) and Flink's debezium-json (or, with --flink-format, canal-json) format on the
// value (FlinkView). Prints one JSON
// object per record on stdout, sorted by (partition, offset):
//
//   {"partition": P, "offset": O, "connect_key": ..., "connect_value": ..., "flink": [...]}
//
// "flink" is null when --flink-columns is not given. With --flink-errors-as-data, a record
// Flink's debezium-json rejects is data, not a failure: its "flink" is null and the object
// gains "flink_error" (the exception and its causes, one line: "Type: message; caused by
// Type: message"); Connect failures still fail the run. Options (tests/consumers/consume.py
// --format debezium-json passes them through; run with the classpath setup-jvm.sh prints):
//   --bootstrap HOST:PORT   broker (PLAINTEXT)                       required
//   --topic T                                                        required
//   --expect N              stop after N records (exit 3 if fewer arrive in time); without it,
//                           stop at the end of every partition
//   --timeout S             seconds to wait in all, default 30
//   --no-schema             JsonConverter with schemas.enable=false (default true), and Flink
//                           with schema-include=false unless --flink-schema-include says so
//   --flink-columns SPEC    the table's columns for Flink, "name:TYPE,..." in Flink SQL types
//   --flink-format debezium-json|canal-json   which Flink format decodes the value (debezium-json);
//                           with canal-json, run with --no-schema (Connect then reads the JSON
//                           as a schemaless map)
//   --flink-schema-include true|false   debezium-json.schema-include (default: !--no-schema)
//   --flink-timestamp-format SQL|ISO-8601   debezium-json.timestamp-format.standard (SQL)
//   --flink-errors-as-data  a record Flink rejects gets "flink_error" instead of exit 2
// Exit codes (as consume.py): 0 ok; 2 a record failed to decode (stderr names topic,
// partition, offset and which decoder); 3 fewer than --expect records before the timeout (or
// not at the end of every partition); 4 a Kafka or usage error; 1 stuck past --timeout + 30 s
// (a watchdog dumps every thread's stack on stderr) or an unexpected crash.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.flink.formats.common.TimestampFormat;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class DebeziumConsume {
    static final int EXIT_CRASH = 1;
    static final int EXIT_DECODE = 2;
    static final int EXIT_SHORT = 3;
    static final int EXIT_KAFKA = 4;

    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** A usage, Kafka or decode failure: its exit code and message. */
    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;
        final int code;

        Failure(int code, String message) {
            super(message);
            this.code = code;
        }
    }

    static final class Args {
        String bootstrap;
        String topic;
        Integer expect;
        double timeout = 30.0;
        boolean schemas = true;
        boolean flinkErrorsAsData;
        String flinkColumns;
        String flinkFormat = "debezium-json";
        Boolean flinkSchemaInclude;
        TimestampFormat timestampFormat = TimestampFormat.SQL;

        static Args parse(String[] argv) throws Failure {
            Args a = new Args();
            for (int i = 0; i < argv.length; i++) {
                String opt = argv[i];
                if (opt.equals("--no-schema")) {
                    a.schemas = false;
                    continue;
                }
                if (opt.equals("--flink-errors-as-data")) {
                    a.flinkErrorsAsData = true;
                    continue;
                }
                if (i + 1 >= argv.length) {
                    throw usage("missing value after " + opt);
                }
                String v = argv[++i];
                switch (opt) {
                    case "--bootstrap":
                        a.bootstrap = v;
                        break;
                    case "--topic":
                        a.topic = v;
                        break;
                    case "--expect":
                        a.expect = parseInt(opt, v);
                        break;
                    case "--timeout":
                        a.timeout = parseDouble(opt, v);
                        break;
                    case "--flink-columns":
                        a.flinkColumns = v;
                        break;
                    case "--flink-format":
                        if (!v.equals("debezium-json") && !v.equals("canal-json")) {
                            throw usage(opt + " takes debezium-json or canal-json, not '" + v + "'");
                        }
                        a.flinkFormat = v;
                        break;
                    case "--flink-schema-include":
                        if (!v.equals("true") && !v.equals("false")) {
                            throw usage(opt + " takes true or false, not '" + v + "'");
                        }
                        a.flinkSchemaInclude = v.equals("true");
                        break;
                    case "--flink-timestamp-format":
                        if (v.equals("SQL")) {
                            a.timestampFormat = TimestampFormat.SQL;
                        } else if (v.equals("ISO-8601")) {
                            a.timestampFormat = TimestampFormat.ISO_8601;
                        } else {
                            throw usage(opt + " takes SQL or ISO-8601, not '" + v + "'");
                        }
                        break;
                    default:
                        throw usage("unknown option " + opt);
                }
            }
            if (a.bootstrap == null || a.topic == null) {
                throw usage("--bootstrap and --topic are required");
            }
            return a;
        }

        boolean flinkSchemaInclude() {
            return flinkSchemaInclude != null ? flinkSchemaInclude : schemas;
        }

        private static int parseInt(String opt, String v) throws Failure {
            try {
                return Integer.parseInt(v);
            } catch (NumberFormatException e) {
                throw usage(opt + " takes an integer, not '" + v + "'");
            }
        }

        private static double parseDouble(String opt, String v) throws Failure {
            try {
                return Double.parseDouble(v);
            } catch (NumberFormatException e) {
                throw usage(opt + " takes a number of seconds, not '" + v + "'");
            }
        }

        private static Failure usage(String text) {
            return new Failure(EXIT_KAFKA, "usage: " + text);
        }
    }

    public static void main(String[] argv) {
        // slf4j-simple: the Kafka client's warnings and errors on stderr, not its INFO chatter.
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        int code;
        try {
            run(Args.parse(argv));
            code = 0;
        } catch (Failure f) {
            System.err.println("DebeziumConsume: " + f.getMessage());
            code = f.code;
        } catch (Throwable t) {
            System.err.println("DebeziumConsume: unexpected failure: " + describe(t));
            t.printStackTrace();
            code = EXIT_CRASH;
        }
        System.out.flush();
        // Kafka client threads must not keep the JVM alive.
        Runtime.getRuntime().halt(code);
    }

    private static void startWatchdog(double timeoutSeconds) {
        long limitMs = (long) ((timeoutSeconds + 30) * 1000);
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(limitMs);
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("DebeziumConsume: stuck past --timeout + 30 s; thread dump:");
            for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
                System.err.println("\"" + e.getKey().getName() + "\"");
                for (StackTraceElement el : e.getValue()) {
                    System.err.println("    at " + el);
                }
            }
            System.err.flush();
            Runtime.getRuntime().halt(EXIT_CRASH);
        }, "watchdog");
        t.setDaemon(true);
        t.start();
    }

    private static void run(Args args) throws Failure {
        startWatchdog(args.timeout);
        long deadline = System.nanoTime() + (long) (args.timeout * 1e9);
        ConnectView connect = new ConnectView(args.schemas);
        FlinkView flink = null;
        if (args.flinkColumns != null) {
            try {
                flink = new FlinkView(
                        args.flinkFormat, args.flinkColumns, args.flinkSchemaInclude(), args.timestampFormat);
            } catch (Exception e) {
                throw new Failure(EXIT_KAFKA, "usage: bad --flink-columns: " + describe(e));
            }
        }
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args.bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "tidb-changefeed-consume-jvm-" + UUID.randomUUID());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        props.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
        List<ObjectNode> out = new ArrayList<>();
        Map<TopicPartition, Long> ends;
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<PartitionInfo> infos = consumer.partitionsFor(args.topic, Duration.ofSeconds(10));
            if (infos == null || infos.isEmpty()) {
                throw new Failure(EXIT_KAFKA, "topic '" + args.topic + "' is not readable on "
                        + args.bootstrap + ": not in metadata");
            }
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo p : infos) {
                parts.add(new TopicPartition(args.topic, p.partition()));
            }
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            ends = args.expect == null ? new HashMap<>(consumer.endOffsets(parts)) : null;
            while (true) {
                if (args.expect != null && out.size() >= args.expect) {
                    break;
                }
                if (ends != null && atEnd(consumer, ends)) {
                    break;
                }
                long leftMs = (deadline - System.nanoTime()) / 1_000_000;
                if (leftMs <= 0) {
                    break;
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(Math.min(leftMs, 500)))) {
                    out.add(decode(r, connect, flink, args.flinkErrorsAsData));
                }
            }
            if (ends != null && !atEnd(consumer, ends)) {
                print(out);
                throw new Failure(EXIT_SHORT, "did not reach the end of every partition of "
                        + args.topic + " within " + args.timeout + "s");
            }
        } catch (KafkaException e) {
            throw new Failure(EXIT_KAFKA, "Kafka error on " + args.topic + ": " + describe(e));
        }
        print(out);
        if (args.expect != null && out.size() < args.expect) {
            throw new Failure(EXIT_SHORT, "read " + out.size() + " of " + args.expect
                    + " expected records from " + args.topic + " within " + args.timeout + "s");
        }
    }

    private static boolean atEnd(KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, Long> ends) {
        for (Map.Entry<TopicPartition, Long> e : ends.entrySet()) {
            if (consumer.position(e.getKey()) < e.getValue()) {
                return false;
            }
        }
        return true;
    }

    private static ObjectNode decode(ConsumerRecord<byte[], byte[]> r, ConnectView connect, FlinkView flink,
            boolean flinkErrorsAsData) throws Failure {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("partition", r.partition());
        o.put("offset", r.offset());
        String stage = "Kafka Connect JsonConverter (key)";
        try {
            o.set("connect_key", connect.key(r.topic(), r.key()));
            stage = "Kafka Connect JsonConverter (value)";
            o.set("connect_value", connect.value(r.topic(), r.value()));
            stage = "Flink debezium-json";
            if (flink == null) {
                o.putNull("flink");
            } else if (flinkErrorsAsData) {
                flinkAsData(o, flink, r.value());
            } else {
                o.set("flink", flink.decode(r.value()));
            }
        } catch (Exception e) {
            throw new Failure(EXIT_DECODE, "cannot decode debezium-json record at topic " + r.topic()
                    + " partition " + r.partition() + " offset " + r.offset() + " with " + stage + ": "
                    + describe(e));
        }
        return o;
    }

    /** Flink's rows, or null and "flink_error" when Flink rejects the record. */
    private static void flinkAsData(ObjectNode o, FlinkView flink, byte[] value) {
        try {
            o.set("flink", flink.decode(value));
        } catch (Exception e) {
            o.putNull("flink");
            o.put("flink_error", describe(e));
        }
    }

    private static void print(List<ObjectNode> out) throws Failure {
        out.sort(Comparator.comparingInt((ObjectNode n) -> n.get("partition").asInt())
                .thenComparingLong(n -> n.get("offset").asLong()));
        StringBuilder sb = new StringBuilder();
        try {
            for (JsonNode n : out) {
                sb.append(MAPPER.writeValueAsString(n)).append('\n');
            }
        } catch (Exception e) {
            throw new Failure(EXIT_CRASH, "cannot write the output: " + describe(e));
        }
        System.out.print(sb);
        System.out.flush();
    }

    /** An exception and its causes, one line: "Type: message; caused by Type: message". */
    static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c != t) {
                sb.append("; caused by ");
            }
            sb.append(c.getClass().getName()).append(": ").append(c.getMessage());
        }
        return sb.toString();
    }
}
