//! The record sent to an on-success destination, in the shape of Lambda's destination records,
//! so consumers written for Lambda destinations read it unchanged.

use super::event::Event;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use skiff_api::VersionRef;

pub(crate) fn success_record(event: &Event, arn: &str, version: VersionRef, output: &[u8]) -> Value {
    let response: Value = match serde_json::from_slice::<Box<RawValue>>(output) {
        Ok(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        Err(_) if output.is_empty() => Value::Null,
        Err(_) => Value::String(String::from_utf8_lossy(output).into_owned()),
    };
    let request: Value = event.payload.as_ref().and_then(|p| serde_json::from_str(p.get()).ok()).unwrap_or(Value::Null);
    json!({
        "version": "1.0",
        "timestamp": skiff_api::time::rfc3339_now(),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": format!("{arn}:{}", event.version),
            "condition": "Success",
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": request,
        "responseContext": { "statusCode": 200, "executedVersion": version.to_string() },
        "responsePayload": response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_has_lambdas_shape() {
        let event = Event {
            request_id: "r1".into(),
            function: "f".into(),
            version: VersionRef::Published(3),
            payload: Some(RawValue::from_string("{\"n\":1}".into()).unwrap()),
            attempts: 2,
            redrives: 0,
            accepted_ms: 0,
            callback_url: None,
            last_error: None,
            condition: None,
            dead_lettered_ms: None,
        };
        let r = success_record(&event, "arn:aws:lambda:us-east-1:000000000000:function:f", VersionRef::Published(3), b"{\"ok\":true}");
        assert_eq!(r["requestContext"]["condition"], "Success");
        assert_eq!(r["requestContext"]["functionArn"], "arn:aws:lambda:us-east-1:000000000000:function:f:3");
        assert_eq!(r["responseContext"]["executedVersion"], "3");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 2);
        assert_eq!(r["requestPayload"]["n"], 1);
        assert_eq!(r["responsePayload"]["ok"], true);
        let ts = r["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.starts_with("20"), "{ts}");
    }
}
