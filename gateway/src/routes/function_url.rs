//! `ANY /fn/{name}/{path...}`: function URLs. A `wasi:http` component gets the HTTP request as
//! it is, both bodies streaming. Any other function gets it as an event in Lambda's
//! function-URL payload format 2.0, and its result becomes the HTTP response.

use crate::body::{read_body, BodyError};
use crate::errors::{error_response, AwsError};
use crate::http::{bytes_response, full, query_pairs, BoxError, Resp};
use crate::routes::lambda::{insert_str, MAX_SYNC_PAYLOAD};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, COOKIE, HOST, SET_COOKIE, USER_AGENT};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use skiff_api::VersionRef;
use skiff_invoker::{HttpServed, Invoker};
use skiff_workers::{HttpAnswer, HttpBody, HttpBodyError, Outcome};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) async fn call<B>(invoker: &Invoker, token: Option<&str>, name: &str, raw_path: &str, peer: SocketAddr, req: Request<B>) -> Resp
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<crate::http::BoxError>,
{
    let (mut parts, body) = req.into_parts();
    crate::auth::strip_credential(token, &mut parts.headers);
    if declared_length(&parts.headers).is_some_and(|n| n > MAX_SYNC_PAYLOAD as u64) {
        return AwsError::RequestTooLarge.response("request body exceeds 6 MB");
    }
    let request = match function_request(parts, raw_path, body) {
        Ok(request) => request,
        Err(e) => return AwsError::InvalidRequestContent.response(format!("the request's Host and path do not form a URI: {e}")),
    };
    match invoker.runner().serve_http(name, VersionRef::Latest, request).await {
        Ok(HttpServed::Answered { request_id, answer: HttpAnswer::Response(response), .. }) => {
            let mut resp = response.map(|body| body.map_err(BoxError::from).boxed());
            insert_str(resp.headers_mut(), "x-amzn-requestid", &request_id);
            resp
        }
        Ok(HttpServed::Answered { request_id, answer: HttpAnswer::Failed(e), .. }) => function_failed(e.error_type.as_str(), &request_id),
        Ok(HttpServed::TakesEvents(request)) => call_with_event(invoker, name, raw_path, peer, request).await,
        Err(e) => error_response(&e),
    }
}

/// The request as the function sees it: its own path (`raw_path`, without `/fn/NAME`) under
/// the caller's `Host`, and the client's body as it arrives.
fn function_request<B>(mut parts: Parts, raw_path: &str, body: B) -> Result<Request<HttpBody>, hyper::http::Error>
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<crate::http::BoxError>,
{
    let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let uri = match parts.uri.query() {
        Some(query) => format!("http://{host}{raw_path}?{query}"),
        None => format!("http://{host}{raw_path}"),
    };
    parts.uri = uri.parse()?;
    let body = body.map_err(|e| HttpBodyError::Client(e.into())).boxed();
    Ok(Request::from_parts(parts, body))
}

/// The `Content-Length` the client declared, if any.
fn declared_length(headers: &hyper::HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// A function that takes events gets the request as a payload 2.0 event, and its result is
/// mapped back to HTTP.
async fn call_with_event(invoker: &Invoker, name: &str, raw_path: &str, peer: SocketAddr, request: Request<HttpBody>) -> Resp {
    let (parts, body) = request.into_parts();
    let body = match read_body(body, MAX_SYNC_PAYLOAD).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return AwsError::RequestTooLarge.response("request body exceeds 6 MB"),
        Err(BodyError::Io(e)) => return AwsError::InvalidRequestContent.response(e),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let event = request_event(&parts, raw_path, peer, &body, &request_id);
    let payload = Bytes::from(serde_json::to_vec(&event).expect("json"));
    match invoker.runner().invoke(name, VersionRef::Latest, payload).await {
        Ok(result) => match &result.execution.outcome {
            Outcome::Success(out) => http_response(out),
            Outcome::Error(e) => function_failed(e.error_type.as_str(), &result.request_id),
        },
        Err(e) => error_response(&e),
    }
}

/// Like Lambda: the caller of a URL sees a 502 for a failed function, the details stay in the
/// logs.
fn function_failed(error_type: &str, request_id: &str) -> Resp {
    let mut resp = bytes_response(StatusCode::BAD_GATEWAY, "application/json", r#"{"message":"Internal Server Error"}"#);
    insert_str(resp.headers_mut(), "x-amz-function-error", error_type);
    insert_str(resp.headers_mut(), "x-amzn-requestid", request_id);
    resp
}

fn request_event(parts: &Parts, raw_path: &str, peer: SocketAddr, body: &[u8], request_id: &str) -> Value {
    // Repeated headers are joined with commas, as Lambda does; cookies go in their own list.
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == COOKIE {
            cookies.extend(value.split(';').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()));
            continue;
        }
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = parts.uri.query().unwrap_or("");
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in query_pairs(Some(raw_query)) {
        query
            .entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let content_type = headers.get("content-type").map(String::as_str).unwrap_or("");
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) if is_textual(content_type) => (text.to_string(), false),
        _ => (B64.encode(body), true),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let time = time::OffsetDateTime::from_unix_timestamp(now.as_secs() as i64)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000")).ok())
        .unwrap_or_default();
    let host = headers.get("host").cloned().unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "cookies": if cookies.is_empty() { Value::Null } else { json!(cookies) },
        "headers": headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "skiff",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or(""),
            "http": {
                "method": parts.method.as_str(),
                "path": raw_path,
                "protocol": format!("{:?}", parts.version),
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time,
            "timeEpoch": now.as_millis() as u64,
        },
        "body": body,
        "pathParameters": Value::Null,
        "isBase64Encoded": is_base64,
        "stageVariables": Value::Null,
    })
}

fn is_textual(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.is_empty() || ct.starts_with("text/") || ["json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "graphql"].iter().any(|t| ct.contains(t))
}

/// Lambda's rule: a JSON object with `statusCode` describes the response; any other result is
/// the body of a 200 `application/json` response.
fn http_response(output: &Bytes) -> Resp {
    let shaped = serde_json::from_slice::<Value>(output).ok().and_then(|v| match v {
        Value::Object(map) if map.contains_key("statusCode") => Some(map),
        _ => None,
    });
    match shaped {
        Some(map) => shaped_response(map),
        None => bytes_response(StatusCode::OK, "application/json", output.clone()),
    }
}

fn shaped_response(map: Map<String, Value>) -> Resp {
    let status = map
        .get("statusCode")
        .and_then(Value::as_u64)
        // RFC 9110's range; a wider number must not wrap into it (65736 as u16 is 200).
        .filter(|s| (100..600).contains(s))
        .and_then(|s| StatusCode::from_u16(s as u16).ok());
    let Some(status) = status else {
        return bad_result("statusCode must be an HTTP status code");
    };
    let body = match map.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if map.get("isBase64Encoded") == Some(&Value::Bool(true)) => match B64.decode(s) {
            Ok(b) => Bytes::from(b),
            Err(_) => return bad_result("body is not valid base64"),
        },
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(other) => Bytes::from(other.to_string()),
    };
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Some(Value::Object(headers)) = map.get("headers") {
        for (k, v) in headers {
            let value = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&value)) {
                h.append(name, value);
            }
        }
    }
    if let Some(Value::Array(cookies)) = map.get("cookies") {
        for c in cookies.iter().filter_map(Value::as_str) {
            if let Ok(v) = HeaderValue::from_str(c) {
                h.append(SET_COOKIE, v);
            }
        }
    }
    if !h.contains_key(hyper::header::CONTENT_TYPE) {
        h.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    resp
}

fn bad_result(why: &str) -> Resp {
    bytes_response(
        StatusCode::BAD_GATEWAY,
        "application/json",
        serde_json::to_vec(&json!({"message": format!("invalid function response: {why}")})).expect("json"),
    )
}

#[cfg(test)]
mod fuzz {
    /// Input: a function's result, mapped to an HTTP response by the payload 2.0 rules.
    #[test]
    fn any_function_result_maps_to_a_response() {
        skiff_fuzz::run("url_response", skiff_fuzz::ROUNDS, |input| {
            let response = super::http_response(&bytes::Bytes::copy_from_slice(input));
            assert!((100..600).contains(&response.status().as_u16()));
            // A status the result asks for is the one it gets, or the result is refused (502).
            let asked = serde_json::from_slice::<serde_json::Value>(input).ok().and_then(|v| v.get("statusCode")?.as_u64());
            if let Some(asked) = asked {
                assert!(u64::from(response.status().as_u16()) == asked || response.status() == 502, "asked {asked}, got {}", response.status());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(resp: Resp) -> Bytes {
        resp.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn shaped_results_become_http_responses() {
        let out = Bytes::from(r#"{"statusCode":201,"headers":{"x-a":"1"},"cookies":["a=b"],"body":"aGk=","isBase64Encoded":true}"#);
        let resp = http_response(&out);
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["x-a"], "1");
        assert_eq!(resp.headers()[SET_COOKIE], "a=b");
        assert_eq!(body_of(resp).await, "hi");
    }

    #[tokio::test]
    async fn other_results_are_json_bodies() {
        let resp = http_response(&Bytes::from(r#"{"hello":"world"}"#));
        assert_eq!(resp.status(), 200);
        assert_eq!(body_of(resp).await, r#"{"hello":"world"}"#);
    }
}
