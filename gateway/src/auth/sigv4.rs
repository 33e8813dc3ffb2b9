//! AWS Signature Version 4, checked as AWS checks it: the canonical request is rebuilt from the
//! raw path and query (every segment URI-encoded once more, as every service but S3 signs it),
//! the signed headers and the payload's SHA-256 (computed from the body; an
//! `X-Amz-Content-SHA256` header must agree with it); the credential scope must name the
//! request's date, this server's region and `lambda`; the date must be within 15 minutes of
//! now; and the signature is compared in constant time. Pure: no I/O, unit-tested.

use hmac::{Hmac, Mac};
use hyper::HeaderMap;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "lambda";
/// How far a request's `X-Amz-Date` may be from the server's clock, either way.
pub(crate) const MAX_SKEW_S: i64 = 15 * 60;

/// The parts of a SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authorization {
    pub(crate) access_key: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureError {
    #[error("Authorization header is not a valid AWS4-HMAC-SHA256 header: {0}")]
    Malformed(&'static str),
    #[error("Credential should be scoped to a valid region, not '{0}'")]
    WrongRegion(String),
    #[error("Credential should be scoped to correct service: '{SERVICE}', not '{0}'")]
    WrongService(String),
    #[error("Date in Credential scope does not match YYYYMMDD from X-Amz-Date")]
    ScopeDate,
    #[error("Signature expired: {0} is now earlier or later than the allowed 15 minutes")]
    Expired(String),
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")]
    Mismatch,
}

impl Authorization {
    /// `None` when the header is not SigV4 at all.
    pub(crate) fn parse(header: &str) -> Option<Result<Self, SignatureError>> {
        let rest = header.strip_prefix(ALGORITHM)?;
        Some(Self::parse_fields(rest))
    }

    fn parse_fields(rest: &str) -> Result<Self, SignatureError> {
        let field = |name: &str| {
            rest.split(',').map(str::trim).find_map(|p| p.strip_prefix(name)?.strip_prefix('=')).ok_or(SignatureError::Malformed("a field is missing"))
        };
        let credential: Vec<&str> = field("Credential")?.split('/').collect();
        let [access_key, date, region, service, "aws4_request"] = credential[..] else {
            return Err(SignatureError::Malformed("Credential is not KEY/DATE/REGION/SERVICE/aws4_request"));
        };
        let signed_headers: Vec<String> = field("SignedHeaders")?.split(';').map(str::to_string).collect();
        if !signed_headers.iter().any(|h| h == "host") {
            return Err(SignatureError::Malformed("the host header must be signed"));
        }
        Ok(Self {
            access_key: access_key.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            signed_headers,
            signature: field("Signature")?.to_string(),
        })
    }
}

/// What a request's signature is checked against.
pub(crate) struct SignedRequest<'r> {
    pub(crate) method: &'r str,
    /// The path as it arrived, still percent-encoded.
    pub(crate) raw_path: &'r str,
    pub(crate) raw_query: Option<&'r str>,
    pub(crate) headers: &'r HeaderMap,
    pub(crate) body: &'r [u8],
}

/// Checks `auth`'s signature of `request` under `secret`; `now` in Unix seconds.
pub(crate) fn verify(auth: &Authorization, request: &SignedRequest<'_>, secret: &str, region: &str, now: i64) -> Result<(), SignatureError> {
    if auth.region != region {
        return Err(SignatureError::WrongRegion(auth.region.clone()));
    }
    if auth.service != SERVICE {
        return Err(SignatureError::WrongService(auth.service.clone()));
    }
    let amz_date = header(request.headers, "x-amz-date").ok_or(SignatureError::Malformed("X-Amz-Date is missing"))?;
    if !amz_date.starts_with(&auth.date) || auth.date.len() != 8 {
        return Err(SignatureError::ScopeDate);
    }
    let signed_at = parse_amz_date(&amz_date).ok_or(SignatureError::Malformed("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?;
    if (now - signed_at).abs() > MAX_SKEW_S {
        return Err(SignatureError::Expired(amz_date));
    }
    let payload_hash = hex::encode(Sha256::digest(request.body));
    if header(request.headers, "x-amz-content-sha256").is_some_and(|claimed| claimed != payload_hash && claimed != "UNSIGNED-PAYLOAD") {
        return Err(SignatureError::Mismatch);
    }
    let canonical = canonical_request(request, &auth.signed_headers, &payload_hash);
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let string_to_sign = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    let expected = hex::decode(&auth.signature).map_err(|_| SignatureError::Mismatch)?;
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

fn canonical_request(request: &SignedRequest<'_>, signed_headers: &[String], payload_hash: &str) -> String {
    let headers: String = signed_headers.iter().map(|name| format!("{name}:{}\n", header_values(request.headers, name))).collect();
    format!(
        "{}\n{}\n{}\n{headers}\n{}\n{payload_hash}",
        request.method,
        uri_encode(request.raw_path, false),
        canonical_query(request.raw_query.unwrap_or("")),
        signed_headers.join(";"),
    )
}

/// Every value of `name`, trimmed, inner runs of spaces collapsed, joined with commas.
fn header_values(headers: &HeaderMap, name: &str) -> String {
    let values = headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).split_whitespace().collect::<Vec<_>>().join(" "));
    values.collect::<Vec<_>>().join(",")
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Each parameter decoded, then encoded strictly, sorted by name and value.
fn canonical_query(raw: &str) -> String {
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&decode(k), true), uri_encode(&decode(v), true))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// RFC 3986 encoding of everything but the unreserved characters (and `/`, in a path).
fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (b == b'/' && !encode_slash) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let step = |key: &[u8], data: &str| {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    let k_date = step(format!("AWS4{secret}").as_bytes(), date);
    let k_region = step(&k_date, region);
    let k_service = step(&k_region, service);
    step(&k_service, "aws4_request")
}

/// `20150830T123600Z` in Unix seconds.
fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u16>().ok();
    let month = time::Month::try_from(u8::try_from(number(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::from(number(0..4)?), month, u8::try_from(number(6..8)?).ok()?).ok()?;
    let clock = time::Time::from_hms(u8::try_from(number(9..11)?).ok()?, u8::try_from(number(11..13)?).ok()?, u8::try_from(number(13..15)?).ok()?).ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request botocore's own `SigV4Auth` signed (an encoded qualifier in the path, a
    /// query in no particular order, a body): the reference every SDK's signer agrees with.
    #[test]
    fn botocores_signature_verifies() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:9000".parse().unwrap());
        headers.insert("x-amz-date", "20261203T120000Z".parse().unwrap());
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, \
                      Signature=ef56ef1f6b67444cb452cc28b98f378148f031bde77fbbd2ac955fdafb55eea7";
        let auth = Authorization::parse(header).unwrap().unwrap();
        let request = SignedRequest {
            method: "POST",
            raw_path: "/2015-03-31/functions/echo%3Alive/invocations",
            raw_query: Some("Qualifier=%24LATEST&A=b"),
            headers: &headers,
            body: br#"{"n":1}"#,
        };
        let now = parse_amz_date("20261203T120000Z").unwrap();
        assert_eq!(verify(&auth, &request, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", now), Ok(()));
    }

    fn signed(secret: &str, path: &str, body: &[u8], date: &str) -> (Authorization, HeaderMap) {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:9000".parse().unwrap());
        headers.insert("x-amz-date", date.parse().unwrap());
        let request = SignedRequest { method: "POST", raw_path: path, raw_query: None, headers: &headers, body };
        let names = ["host".to_string(), "x-amz-date".to_string()];
        let canonical = canonical_request(&request, &names, &hex::encode(Sha256::digest(body)));
        let scope = format!("{}/us-east-1/lambda/aws4_request", &date[..8]);
        let to_sign = format!("{ALGORITHM}\n{date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
        let mut mac = HmacSha256::new_from_slice(&signing_key(secret, &date[..8], "us-east-1", "lambda")).unwrap();
        mac.update(to_sign.as_bytes());
        let header = format!("{ALGORITHM} Credential=AK/{scope}, SignedHeaders=host;x-amz-date, Signature={}", hex::encode(mac.finalize().into_bytes()));
        (Authorization::parse(&header).unwrap().unwrap(), headers)
    }

    #[test]
    fn a_signature_holds_only_for_its_secret_body_path_region_and_time() {
        let now = parse_amz_date("20261203T120000Z").unwrap();
        let (auth, headers) = signed("s3cret", "/2015-03-31/functions/f%3A1/invocations", b"{}", "20261203T120000Z");
        let request = |path, body| SignedRequest { method: "POST", raw_path: path, raw_query: None, headers: &headers, body };
        let path = "/2015-03-31/functions/f%3A1/invocations";
        assert_eq!(verify(&auth, &request(path, b"{}"), "s3cret", "us-east-1", now), Ok(()));
        assert_eq!(verify(&auth, &request(path, b"{}"), "wrong", "us-east-1", now), Err(SignatureError::Mismatch));
        assert_eq!(verify(&auth, &request(path, b"{ }"), "s3cret", "us-east-1", now), Err(SignatureError::Mismatch));
        assert_eq!(verify(&auth, &request("/2015-03-31/functions/g/invocations", b"{}"), "s3cret", "us-east-1", now), Err(SignatureError::Mismatch));
        assert!(matches!(verify(&auth, &request(path, b"{}"), "s3cret", "eu-west-1", now), Err(SignatureError::WrongRegion(_))));
        assert!(matches!(verify(&auth, &request(path, b"{}"), "s3cret", "us-east-1", now + 16 * 60), Err(SignatureError::Expired(_))));
        assert_eq!(verify(&auth, &request(path, b"{}"), "s3cret", "us-east-1", now - 14 * 60), Ok(()));
    }

    #[test]
    fn query_parameters_are_sorted_and_encoded_strictly() {
        assert_eq!(canonical_query("Param2=value2&Param1=value1"), "Param1=value1&Param2=value2");
        assert_eq!(canonical_query("Marker=a%2Fb&MaxItems=5"), "Marker=a%2Fb&MaxItems=5");
        assert_eq!(canonical_query("Qualifier=%24LATEST"), "Qualifier=%24LATEST");
        assert_eq!(uri_encode("/functions/f%3A1/x", false), "/functions/f%253A1/x");
    }

    #[test]
    fn malformed_headers_are_told_apart_from_other_schemes() {
        assert!(Authorization::parse("Bearer x").is_none());
        assert!(matches!(Authorization::parse("AWS4-HMAC-SHA256 Credential=a/b"), Some(Err(SignatureError::Malformed(_)))));
        let unsigned_host = "AWS4-HMAC-SHA256 Credential=A/20261203/us-east-1/lambda/aws4_request, SignedHeaders=x-amz-date, Signature=00";
        assert!(matches!(Authorization::parse(unsigned_host), Some(Err(SignatureError::Malformed(_)))));
    }
}
