//! AWS Signature Version 4 checks for API requests, when the control plane
//! has credentials (`--credentials`): the request's canonical form is
//! rebuilt from what arrived (method, path, query, the signed headers, the
//! body's SHA-256), signed with the secret key of the access key it names,
//! and compared with the signature it carries.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Requests signed more than this far from the control plane's clock are
/// refused (as AWS does).
const MAX_SKEW_SECS: i64 = 15 * 60;

/// What arrived, as the signature covers it.
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Header names lowercase.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.splitn(5, '/');
    Some(Authorization {
        access_key: scope.next()?,
        date: scope.next()?,
        region: scope.next()?,
        service: scope.next()?,
        signed_headers: signed_headers?,
        signature: signature?,
    })
}

fn error(code: &'static str, message: &str) -> ApiError {
    ApiError::new(code, 403, message)
}

fn signature_mismatch() -> ApiError {
    error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your \
         AWS Secret Access Key and signing method. Consult the service documentation for details.",
    )
}

/// RFC 3986 encoding as SigV4 wants it (unreserved characters kept).
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Checks the request's signature against `secret_of(access key)`;
/// returns the region of its credential scope.
pub fn verify(
    req: &Signed,
    secret_of: impl Fn(&str) -> Option<String>,
    now_secs: i64,
) -> Result<String, ApiError> {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(value) = header("authorization") else {
        return Err(error(
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ));
    };
    let auth = parse_authorization(value).ok_or_else(|| {
        error(
            "IncompleteSignature",
            "The request signature does not conform to AWS standards.",
        )
    })?;
    let secret = secret_of(auth.access_key).ok_or_else(|| {
        error(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    })?;
    let amz_date = header("x-amz-date").ok_or_else(signature_mismatch)?;
    if !amz_date.starts_with(auth.date) {
        return Err(signature_mismatch());
    }
    let signed_at = crate::xml::parse_timestamp(&format!(
        "{}-{}-{}T{}:{}:{}Z",
        amz_date.get(0..4).unwrap_or(""),
        amz_date.get(4..6).unwrap_or(""),
        amz_date.get(6..8).unwrap_or(""),
        amz_date.get(9..11).unwrap_or(""),
        amz_date.get(11..13).unwrap_or(""),
        amz_date.get(13..15).unwrap_or("")
    ))
    .ok_or_else(signature_mismatch)?;
    if (signed_at as i64 / 1000 - now_secs).abs() > MAX_SKEW_SECS {
        return Err(error(
            "RequestExpired",
            "Request has expired: its signature date is more than 15 minutes from the server's clock.",
        ));
    }
    // The canonical request.
    let mut query: Vec<(String, String)> = form_urlencoded::parse(req.query.as_bytes())
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut canonical_headers = String::new();
    for name in auth.signed_headers.split(';') {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(signature_mismatch());
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let path = if req.path.is_empty() { "/" } else { req.path };
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{}\n{}",
        req.method,
        uri_encode(path, true),
        query.join("&"),
        auth.signed_headers,
        hex(&Sha256::digest(req.body))
    );
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [auth.region, auth.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex(&hmac(&key, to_sign.as_bytes()));
    // Compare in constant time: the signature is a secret-derived value.
    let same = expected.len() == auth.signature.len()
        && expected
            .bytes()
            .zip(auth.signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(signature_mismatch());
    }
    Ok(auth.region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request botocore 1.43 signed (SigV4Auth, service elasticache).
    fn botocore_request(signature: &str) -> Vec<(String, String)> {
        vec![
            ("host".into(), "127.0.0.1:9736".into()),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            ),
            ("x-amz-date".into(), "20261128T045956Z".into()),
            (
                "authorization".into(),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-west-2/elasticache/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
                ),
            ),
        ]
    }

    const SIGNATURE: &str = "a5ae983d960f58567743bc26d00433baca168d3c1fc21f0e1e907e70f0bbd57e";
    const BODY: &[u8] = b"Action=DescribeCacheClusters&Version=2015-02-02";
    /// 2026-11-28T04:59:56Z.
    const SIGNED_AT: i64 = 1_795_841_996;

    fn check(headers: &[(String, String)], body: &[u8], now: i64) -> Result<String, ApiError> {
        let req = Signed {
            method: "POST",
            path: "/",
            query: "",
            headers,
            body,
        };
        verify(
            &req,
            |id| (id == "AKIDEXAMPLE").then(|| "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            now,
        )
    }

    #[test]
    fn botocore_signatures_verify_and_changes_do_not() {
        let headers = botocore_request(SIGNATURE);
        assert_eq!(check(&headers, BODY, SIGNED_AT).unwrap(), "us-west-2");
        let tampered = b"Action=DeleteCacheCluster&Version=2015-02-02";
        assert_eq!(
            check(&headers, tampered, SIGNED_AT).unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        let wrong = botocore_request(&SIGNATURE.replace('a', "b"));
        assert_eq!(
            check(&wrong, BODY, SIGNED_AT).unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            check(&headers, BODY, SIGNED_AT + 3600).unwrap_err().code,
            "RequestExpired"
        );
        let mut other_key = headers.clone();
        other_key[3].1 = other_key[3].1.replace("AKIDEXAMPLE", "AKIDOTHER");
        assert_eq!(
            check(&other_key, BODY, SIGNED_AT).unwrap_err().code,
            "InvalidClientTokenId"
        );
        assert_eq!(
            check(&headers[..3], BODY, SIGNED_AT).unwrap_err().code,
            "MissingAuthenticationToken"
        );
    }
}
