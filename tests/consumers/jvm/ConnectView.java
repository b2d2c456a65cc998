// ConnectView: decodes one Kafka key or value with Kafka Connect's own JsonConverter
// (org.apache.kafka:connect-json) and renders what Connect produced as JSON, so a test can see
// the Connect Schema (type, logical name, version, parameters, default) of every field and the
// Java value Connect gives it.
//
// Rendering of a value with its schema ("typed"):
//   {"type": "struct|int32|...|null", "name": <schema().name() or null>, "optional": bool,
//    ["version": n,] ["parameters": {...},] ["default": <value>,] "class": <Java class or null>,
//    "value": <value>}
// Values: Struct -> object of field name -> typed(field); java.util.Date (Connect's Date,
// Time, Timestamp logical types) -> epoch milliseconds (the logical name is in "name");
// byte[]/ByteBuffer -> lowercase hex; BigDecimal -> its plain string; List -> array; Map ->
// object (keys as strings); non-finite float/double -> its string ("NaN"); everything else is
// the JSON number/string/bool it is. A schemaless value (schemas.enable=false) has "type" and
// "name" null and a plain value. A null record (missing key, tombstone) renders as JSON null.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.json.JsonConverter;

final class ConnectView {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private final JsonConverter keyConverter = new JsonConverter();
    private final JsonConverter valueConverter = new JsonConverter();

    /** schemasEnable: the converter's schemas.enable (the {"schema","payload"} envelope). */
    ConnectView(boolean schemasEnable) {
        Map<String, Object> conf = new HashMap<>();
        conf.put("schemas.enable", Boolean.toString(schemasEnable));
        keyConverter.configure(conf, true);
        valueConverter.configure(conf, false);
    }

    JsonNode key(String topic, byte[] raw) {
        return raw == null ? F.nullNode() : render(keyConverter.toConnectData(topic, raw));
    }

    JsonNode value(String topic, byte[] raw) {
        return raw == null ? F.nullNode() : render(valueConverter.toConnectData(topic, raw));
    }

    private static JsonNode render(SchemaAndValue sv) {
        return typed(sv.schema(), sv.value());
    }

    static JsonNode typed(Schema schema, Object value) {
        ObjectNode n = F.objectNode();
        if (schema == null) {
            n.putNull("type");
            n.putNull("name");
        } else {
            n.put("type", schema.type().getName());
            n.put("name", schema.name());
            n.put("optional", schema.isOptional());
            if (schema.version() != null) {
                n.put("version", schema.version());
            }
            if (schema.parameters() != null) {
                ObjectNode p = n.putObject("parameters");
                schema.parameters().forEach(p::put);
            }
            if (schema.defaultValue() != null) {
                n.set("default", plain(schema, schema.defaultValue()));
            }
        }
        n.put("class", value == null ? null : className(value));
        n.set("value", plain(schema, value));
        return n;
    }

    private static String className(Object value) {
        return value instanceof byte[] ? "byte[]" : value.getClass().getName();
    }

    private static JsonNode plain(Schema schema, Object value) {
        if (value == null) {
            return F.nullNode();
        }
        if (value instanceof Struct) {
            Struct s = (Struct) value;
            ObjectNode o = F.objectNode();
            for (Field f : s.schema().fields()) {
                o.set(f.name(), typed(f.schema(), s.get(f)));
            }
            return o;
        }
        if (value instanceof java.util.Date) {
            return F.numberNode(((java.util.Date) value).getTime());
        }
        if (value instanceof byte[]) {
            return F.textNode(hex((byte[]) value));
        }
        if (value instanceof ByteBuffer) {
            ByteBuffer b = ((ByteBuffer) value).duplicate();
            byte[] a = new byte[b.remaining()];
            b.get(a);
            return F.textNode(hex(a));
        }
        if (value instanceof BigDecimal) {
            return F.textNode(((BigDecimal) value).toPlainString());
        }
        if (value instanceof List) {
            Schema elem = schema == null ? null : schema.valueSchema();
            ArrayNode a = F.arrayNode();
            for (Object e : (List<?>) value) {
                a.add(plain(elem, e));
            }
            return a;
        }
        if (value instanceof Map) {
            Schema elem = schema == null ? null : schema.valueSchema();
            ObjectNode o = F.objectNode();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) {
                o.set(String.valueOf(e.getKey()), plain(elem, e.getValue()));
            }
            return o;
        }
        if (value instanceof Float) {
            float f = (Float) value;
            return Float.isFinite(f) ? F.numberNode(f) : F.textNode(Float.toString(f));
        }
        if (value instanceof Double) {
            double d = (Double) value;
            return Double.isFinite(d) ? F.numberNode(d) : F.textNode(Double.toString(d));
        }
        if (value instanceof Byte) {
            return F.numberNode((Byte) value);
        }
        if (value instanceof Short) {
            return F.numberNode((Short) value);
        }
        if (value instanceof Integer) {
            return F.numberNode((Integer) value);
        }
        if (value instanceof Long) {
            return F.numberNode((Long) value);
        }
        if (value instanceof Boolean) {
            return F.booleanNode((Boolean) value);
        }
        return F.textNode(value.toString());
    }

    static String hex(byte[] a) {
        StringBuilder sb = new StringBuilder(a.length * 2);
        for (byte b : a) {
            sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return sb.toString();
    }
}
