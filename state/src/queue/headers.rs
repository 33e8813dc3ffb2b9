//! AMQP header tables as JSON and back, so a message's headers read the same whether it came
//! from RabbitMQ or the embedded queue. Byte arrays (and non-UTF-8 strings) become
//! `{"base64": ...}`; timestamps become numbers; a JSON object goes back as a nested table.

use base64::Engine as _;
use lapin::types::{AMQPValue, ByteArray, FieldArray, FieldTable, LongString};
use serde_json::{Map, Value};

pub(crate) fn to_json(table: &FieldTable) -> Map<String, Value> {
    table.inner().iter().map(|(k, v)| (k.as_str().to_string(), value_to_json(v))).collect()
}

fn bytes_to_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) }),
    }
}

fn value_to_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => (*b).into(),
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => (*n).into(),
        AMQPValue::Float(f) => (*f).into(),
        AMQPValue::Double(f) => (*f).into(),
        AMQPValue::DecimalValue(d) => (d.value as f64 / 10f64.powi(d.scale.into())).into(),
        AMQPValue::ShortString(s) => s.as_str().into(),
        AMQPValue::LongString(s) => bytes_to_json(s.as_bytes()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(value_to_json).collect()),
        AMQPValue::Timestamp(t) => (*t).into(),
        AMQPValue::FieldTable(t) => Value::Object(to_json(t)),
        AMQPValue::ByteArray(b) => {
            serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b.as_slice()) })
        }
        AMQPValue::Void => Value::Null,
    }
}

pub(crate) fn to_table(map: &Map<String, Value>) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in map {
        table.insert(k.as_str().into(), json_to_value(v));
    }
    table
}

fn json_to_value(v: &Value) -> AMQPValue {
    match v {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => AMQPValue::LongLongInt(i),
            (None, Some(f)) => AMQPValue::Double(f),
            _ => AMQPValue::LongString(LongString::from(n.to_string())),
        },
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_str())),
        Value::Array(items) => AMQPValue::FieldArray(FieldArray::from(items.iter().map(json_to_value).collect::<Vec<_>>())),
        Value::Object(m) => match (m.len(), m.get("base64").and_then(Value::as_str)) {
            (1, Some(b64)) => match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(bytes) => AMQPValue::ByteArray(ByteArray::from(bytes)),
                Err(_) => AMQPValue::FieldTable(to_table(m)),
            },
            _ => AMQPValue::FieldTable(to_table(m)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_amqp_tables() {
        let json = serde_json::json!({
            "attempt": 2, "name": "x", "ok": true, "ratio": 0.5, "nested": {"a": [1, "b"]},
            "raw": {"base64": "AP8="}, "none": null
        });
        let map = json.as_object().unwrap().clone();
        assert_eq!(to_json(&to_table(&map)), map);
    }
}
