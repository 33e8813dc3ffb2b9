//! The record sent to an on-success destination, in the shape of Lambda's destination records,
//! so consumers written for Lambda destinations read it unchanged.
//!
//! The payloads are carried as the raw JSON they are, never parsed into a tree: a tree has a
//! nesting limit, and a payload past it must not turn into `null` (that reset is what let a
//! destination loop grow without end).

use super::event::Event;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;
use skiff_api::VersionRef;

/// A payload as it goes into the record: JSON as is, anything else as a string.
#[derive(Serialize)]
#[serde(untagged)]
enum Payload<'a> {
    Json(&'a RawValue),
    Text(String),
    Absent(Option<()>),
}

impl<'a> Payload<'a> {
    fn of(bytes: &'a [u8]) -> Self {
        match serde_json::from_slice::<&RawValue>(bytes) {
            Ok(raw) => Payload::Json(raw),
            Err(_) if bytes.iter().all(u8::is_ascii_whitespace) => Payload::Absent(None),
            Err(_) => Payload::Text(String::from_utf8_lossy(bytes).into_owned()),
        }
    }
}

pub(crate) fn success_record(event: &Event, arn: &str, version: VersionRef, output: &[u8]) -> Vec<u8> {
    let request = event.payload.as_deref().map_or(Payload::Absent(None), Payload::Json);
    let record = json!({
        "version": "1.0",
        "timestamp": skiff_api::time::rfc3339_now(),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": format!("{arn}:{}", event.version),
            "condition": "Success",
            "approximateInvokeCount": event.attempts,
        },
        "responseContext": { "statusCode": 200, "executedVersion": version.to_string() },
    });
    #[derive(Serialize)]
    struct Record<'a> {
        #[serde(flatten)]
        context: &'a serde_json::Value,
        #[serde(rename = "requestPayload")]
        request: Payload<'a>,
        #[serde(rename = "responsePayload")]
        response: Payload<'a>,
    }
    serde_json::to_vec(&Record { context: &record, request, response: Payload::of(output) }).expect("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_has_lambdas_shape() {
        let payload = RawValue::from_string("{\"n\":1}".into()).unwrap();
        let event = Event { attempts: 2, ..Event::accepted("r1".into(), "f".into(), VersionRef::Published(3), Some(payload), None) };
        let r = success_record(&event, "arn:aws:lambda:us-east-1:000000000000:function:f", VersionRef::Published(3), b"{\"ok\":true}");
        let r: serde_json::Value = serde_json::from_slice(&r).unwrap();
        assert_eq!(r["requestContext"]["condition"], "Success");
        assert_eq!(r["requestContext"]["functionArn"], "arn:aws:lambda:us-east-1:000000000000:function:f:3");
        assert_eq!(r["responseContext"]["executedVersion"], "3");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 2);
        assert_eq!(r["requestPayload"]["n"], 1);
        assert_eq!(r["responsePayload"]["ok"], true);
        let ts = r["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.starts_with("20"), "{ts}");
    }

    #[test]
    fn deep_payloads_are_carried_intact_and_text_stays_text() {
        let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
        let event = Event::accepted("r".into(), "f".into(), VersionRef::Latest, Some(RawValue::from_string(deep.clone()).unwrap()), None);
        let record = String::from_utf8(success_record(&event, "arn", VersionRef::Latest, deep.as_bytes())).unwrap();
        assert!(record.contains(&format!("\"requestPayload\":{deep}")), "the request payload is intact");
        assert!(record.contains(&format!("\"responsePayload\":{deep}")), "the response payload is intact");
        let shallow = Event::accepted("r".into(), "f".into(), VersionRef::Latest, None, None);
        let r: serde_json::Value = serde_json::from_slice(&success_record(&shallow, "arn", VersionRef::Latest, b"plain words")).unwrap();
        assert_eq!((r["requestPayload"].clone(), r["responsePayload"].clone()), (serde_json::Value::Null, "plain words".into()));
        let r: serde_json::Value = serde_json::from_slice(&success_record(&shallow, "arn", VersionRef::Latest, b"")).unwrap();
        assert!(r["responsePayload"].is_null() && r.as_object().unwrap().contains_key("responsePayload"));
    }
}
