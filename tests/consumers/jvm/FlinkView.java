// FlinkView: decodes one Kafka value with Apache Flink's own debezium-json or canal-json format
// (org.apache.flink:flink-json, DebeziumJsonDeserializationSchema / CanalJsonDeserializationSchema,
// the classes Flink SQL's 'format' = 'debezium-json' / 'canal-json' run) for a table schema given
// as "name:TYPE,..." (Flink SQL type
// syntax, e.g. "id:BIGINT NOT NULL,c:STRING,d:DATE,p:DECIMAL(10,2)"), and renders every RowData
// it emits as {"kind": "+I|-U|+U|-D", "fields": [...]}.
//
// canal-json reads every record (no database/table filter); schema-include does not apply.
//
// schema-include=true (debezium-json) reads the row change under "payload" (what Kafka Connect's JsonConverter
// writes with schemas.enable=true; the "schema" member is ignored); false reads it at the top
// level. Parse errors are not ignored (ignore-parse-errors=false): a record Flink rejects
// throws. A null or empty value (tombstone) yields no rows, as in Flink.
//
// Field values (Flink's internal data): CHAR/VARCHAR -> string; BOOLEAN; TINYINT..BIGINT,
// FLOAT, DOUBLE -> number (non-finite -> its string); DECIMAL -> plain string; BINARY/VARBINARY
// -> lowercase hex; DATE -> "yyyy-MM-dd"; TIME -> ISO local time; TIMESTAMP -> ISO local
// date-time; TIMESTAMP_LTZ -> ISO instant ("...Z"); ARRAY -> array; MAP -> array of
// [key, value]; ROW -> array of its fields; null -> null.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.LocalDate;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.formats.common.TimestampFormat;
import org.apache.flink.formats.json.canal.CanalJsonDeserializationSchema;
import org.apache.flink.formats.json.debezium.DebeziumJsonDeserializationSchema;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.MapData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.MapType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.utils.LogicalTypeParser;
import org.apache.flink.table.types.utils.TypeConversions;
import org.apache.flink.util.Collector;
import org.apache.flink.util.SimpleUserCodeClassLoader;
import org.apache.flink.util.UserCodeClassLoader;

final class FlinkView {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private final RowType rowType;
    private final DeserializationSchema<RowData> schema;

    FlinkView(String format, String columns, boolean schemaInclude, TimestampFormat timestampFormat)
            throws Exception {
        this.rowType = parseColumns(columns);
        switch (format) {
            case "debezium-json":
                this.schema = new DebeziumJsonDeserializationSchema(
                        TypeConversions.fromLogicalToDataType(rowType),
                        Collections.emptyList(),
                        TypeInformation.of(RowData.class),
                        schemaInclude,
                        false,
                        timestampFormat);
                break;
            case "canal-json":
                this.schema = CanalJsonDeserializationSchema.builder(
                                TypeConversions.fromLogicalToDataType(rowType),
                                Collections.emptyList(),
                                TypeInformation.of(RowData.class))
                        .setIgnoreParseErrors(false)
                        .setTimestampFormat(timestampFormat)
                        .build();
                break;
            default:
                throw new IllegalArgumentException(
                        "unknown Flink format '" + format + "' (debezium-json or canal-json)");
        }
        ClassLoader loader = FlinkView.class.getClassLoader();
        schema.open(new DeserializationSchema.InitializationContext() {
            @Override
            public MetricGroup getMetricGroup() {
                return new UnregisteredMetricsGroup();
            }

            @Override
            public UserCodeClassLoader getUserCodeClassLoader() {
                return SimpleUserCodeClassLoader.create(loader);
            }
        });
    }

    /** "a:INT,b:DECIMAL(10,2)" -> ROW<`a` INT, `b` DECIMAL(10,2)> (commas inside (), <> kept). */
    static RowType parseColumns(String spec) {
        List<String> parts = new ArrayList<>();
        int depth = 0;
        int start = 0;
        for (int i = 0; i < spec.length(); i++) {
            char c = spec.charAt(i);
            if (c == '(' || c == '<') {
                depth++;
            } else if (c == ')' || c == '>') {
                depth--;
            } else if (c == ',' && depth == 0) {
                parts.add(spec.substring(start, i));
                start = i + 1;
            }
        }
        parts.add(spec.substring(start));
        StringBuilder row = new StringBuilder("ROW<");
        for (int i = 0; i < parts.size(); i++) {
            String part = parts.get(i).trim();
            int colon = part.indexOf(':');
            if (colon <= 0 || colon == part.length() - 1) {
                throw new IllegalArgumentException(
                        "--flink-columns entry " + (i + 1) + " is not NAME:TYPE: '" + part + "'");
            }
            String name = part.substring(0, colon).trim().replace("`", "``");
            if (i > 0) {
                row.append(", ");
            }
            row.append('`').append(name).append("` ").append(part.substring(colon + 1).trim());
        }
        row.append('>');
        LogicalType t = LogicalTypeParser.parse(row.toString(), FlinkView.class.getClassLoader());
        return (RowType) t;
    }

    /** The rows Flink emits for one record value, rendered. Throws what Flink throws. */
    ArrayNode decode(byte[] value) throws Exception {
        List<RowData> rows = new ArrayList<>();
        schema.deserialize(value, new Collector<RowData>() {
            @Override
            public void collect(RowData r) {
                rows.add(r);
            }

            @Override
            public void close() {}
        });
        ArrayNode out = F.arrayNode();
        for (RowData r : rows) {
            ObjectNode o = out.addObject();
            o.put("kind", r.getRowKind().shortString());
            o.set("fields", fields(rowType, r));
        }
        return out;
    }

    private static ArrayNode fields(RowType type, RowData r) {
        ArrayNode a = F.arrayNode();
        List<LogicalType> types = type.getChildren();
        for (int i = 0; i < types.size(); i++) {
            a.add(json(types.get(i), RowData.createFieldGetter(types.get(i), i).getFieldOrNull(r)));
        }
        return a;
    }

    private static JsonNode json(LogicalType t, Object v) {
        if (v == null) {
            return F.nullNode();
        }
        switch (t.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                return F.textNode(((StringData) v).toString());
            case BOOLEAN:
                return F.booleanNode((Boolean) v);
            case BINARY:
            case VARBINARY:
                return F.textNode(ConnectView.hex((byte[]) v));
            case DECIMAL:
                return F.textNode(((DecimalData) v).toBigDecimal().toPlainString());
            case TINYINT:
                return F.numberNode((Byte) v);
            case SMALLINT:
                return F.numberNode((Short) v);
            case INTEGER:
                return F.numberNode((Integer) v);
            case BIGINT:
                return F.numberNode((Long) v);
            case FLOAT: {
                float f = (Float) v;
                return Float.isFinite(f) ? F.numberNode(f) : F.textNode(Float.toString(f));
            }
            case DOUBLE: {
                double d = (Double) v;
                return Double.isFinite(d) ? F.numberNode(d) : F.textNode(Double.toString(d));
            }
            case DATE:
                return F.textNode(LocalDate.ofEpochDay((Integer) v).toString());
            case TIME_WITHOUT_TIME_ZONE:
                return F.textNode(DateTimeFormatter.ISO_LOCAL_TIME.format(
                        LocalTime.ofNanoOfDay((Integer) v * 1_000_000L)));
            case TIMESTAMP_WITHOUT_TIME_ZONE:
                return F.textNode(DateTimeFormatter.ISO_LOCAL_DATE_TIME.format(
                        ((TimestampData) v).toLocalDateTime()));
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                return F.textNode(((TimestampData) v).toInstant().toString());
            case ARRAY: {
                LogicalType elem = ((ArrayType) t).getElementType();
                ArrayData data = (ArrayData) v;
                ArrayData.ElementGetter get = ArrayData.createElementGetter(elem);
                ArrayNode a = F.arrayNode();
                for (int i = 0; i < data.size(); i++) {
                    a.add(json(elem, get.getElementOrNull(data, i)));
                }
                return a;
            }
            case MAP: {
                MapType mt = (MapType) t;
                MapData data = (MapData) v;
                ArrayData.ElementGetter getKey = ArrayData.createElementGetter(mt.getKeyType());
                ArrayData.ElementGetter getValue = ArrayData.createElementGetter(mt.getValueType());
                ArrayNode a = F.arrayNode();
                for (int i = 0; i < data.size(); i++) {
                    ArrayNode pair = a.addArray();
                    pair.add(json(mt.getKeyType(), getKey.getElementOrNull(data.keyArray(), i)));
                    pair.add(json(mt.getValueType(), getValue.getElementOrNull(data.valueArray(), i)));
                }
                return a;
            }
            case ROW:
                return fields((RowType) t, (RowData) v);
            default:
                return F.textNode(v.toString());
        }
    }
}
