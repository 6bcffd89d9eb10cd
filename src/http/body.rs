//! Reading request bodies within limits: the wire size is capped while
//! reading, and gzip is inflated only up to the decompressed limit.

use std::io::Read;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::ApiError;
use crate::config::Limits;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Content types accepted for JSON bodies. `text/plain` lets browsers send
/// without a CORS preflight.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(()); // Many beacons send none; the body must still be JSON.
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "text/plain" | "" => Ok(()),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "content type {other:?} is not supported; send application/json or text/plain"
        ))),
    }
}

/// Reads the body (at most `limits.max_body_bytes` on the wire) and
/// inflates gzip (at most `limits.max_decompressed_bytes`).
pub async fn read(headers: &HeaderMap, body: Body, limits: &Limits) -> Result<Bytes, ApiError> {
    check_content_type(headers)?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "request body exceeds {} bytes (limits.max_body_bytes)",
            limits.max_body_bytes
        ))
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limits.max_body_bytes as u64 {
            return Err(too_large());
        }
    }
    let bytes = Limited::new(body, limits.max_body_bytes)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                too_large()
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?
        .to_bytes();
    let gzip = match encoding.as_deref() {
        None | Some("identity") => bytes.starts_with(&GZIP_MAGIC),
        Some("gzip") | Some("x-gzip") => true,
        Some(other) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "content encoding {other:?} is not supported; use gzip or none"
            )))
        }
    };
    if gzip {
        inflate(&bytes, limits.max_decompressed_bytes)
    } else {
        Ok(bytes)
    }
}

/// Inflates gzip, stopping as soon as the output would pass `limit`.
pub fn inflate(compressed: &[u8], limit: usize) -> Result<Bytes, ApiError> {
    let mut out = Vec::with_capacity((compressed.len() * 4).min(limit));
    let mut decoder = MultiGzDecoder::new(compressed).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|_| ApiError::BadRequest("the gzip body is corrupt or truncated".into()))?;
    if out.len() > limit {
        return Err(ApiError::PayloadTooLarge(format!(
            "decompressed body exceeds {limit} bytes (limits.max_decompressed_bytes)"
        )));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(data).expect("write");
        enc.finish().expect("finish")
    }

    #[test]
    fn inflates_within_the_limit() {
        let body = gzip(b"{\"a\":1}");
        assert_eq!(&inflate(&body, 100).expect("ok")[..], b"{\"a\":1}");
    }

    #[test]
    fn a_bomb_is_cut_off_at_the_limit() {
        let bomb = gzip(&vec![b' '; 50 * 1024 * 1024]);
        assert!(
            bomb.len() < 100 * 1024,
            "compressed to {} bytes",
            bomb.len()
        );
        match inflate(&bomb, 1024 * 1024) {
            Err(ApiError::PayloadTooLarge(m)) => assert!(m.contains("1048576"), "{m}"),
            other => panic!("expected 413, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_gzip_is_a_bad_request() {
        let mut body = gzip(b"{\"a\":1}");
        body.truncate(body.len() - 6);
        assert!(matches!(inflate(&body, 100), Err(ApiError::BadRequest(_))));
    }
}
