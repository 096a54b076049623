use super::*;
use crate::signing::{ProofClaims, ProofKey};

const URI: &str = "https://id.example.org/oauth/token";

fn key() -> ProofKey {
    ProofKey::generate().unwrap_or_else(|| unreachable!("no random source"))
}

fn claims<'a>(token: Option<&'a str>) -> ProofClaims<'a> {
    ProofClaims {
        method: "POST",
        uri: URI,
        access_token: token,
        nonce: None,
        iat: 1_000_000,
    }
}

fn expected<'a>(token: Option<&'a str>) -> Expected<'a> {
    Expected {
        method: "POST",
        uri: URI,
        access_token: token,
        now: 1_000_000,
    }
}

#[test]
fn a_proof_for_its_request_passes_with_its_key_thumbprint() {
    let key = key();
    let proof = verify(&key.proof(claims(None)), &expected(None));
    assert_eq!(proof.as_ref().map(|p| p.jkt.as_str()), Ok(key.jkt()));
    // The query is not part of htu (§4.3); case of scheme and host is not either.
    let mut other = expected(None);
    other.uri = "HTTPS://ID.example.org/oauth/token?x=1";
    assert!(verify(&key.proof(claims(None)), &other).is_ok());
}

#[test]
fn rfc_9449_4_3_refusals() {
    let key = key();
    let proof = key.proof(claims(Some("tok")));
    let mut wrong = expected(Some("tok"));
    wrong.method = "GET";
    assert_eq!(verify(&proof, &wrong), Err(ProofError::Method));
    let mut wrong = expected(Some("tok"));
    wrong.uri = "https://id.example.org/oauth/userinfo";
    assert_eq!(verify(&proof, &wrong), Err(ProofError::Uri));
    assert_eq!(
        verify(&proof, &expected(Some("another"))),
        Err(ProofError::AccessTokenHash)
    );
    assert_eq!(
        verify(&key.proof(claims(None)), &expected(Some("tok"))),
        Err(ProofError::Missing("ath"))
    );
    let mut old = expected(None);
    old.now += MAX_AGE + 1;
    assert_eq!(
        verify(&key.proof(claims(None)), &old),
        Err(ProofError::Time)
    );
    let mut early = expected(None);
    early.now -= MAX_SKEW + 1;
    assert_eq!(
        verify(&key.proof(claims(None)), &early),
        Err(ProofError::Time)
    );
}

#[test]
fn a_tampered_or_foreign_proof_is_refused() {
    let key = key();
    let proof = key.proof(claims(None));
    let mut parts: Vec<&str> = proof.split('.').collect();
    let other = key.proof(ProofClaims {
        method: "GET",
        ..claims(None)
    });
    let other_body = other.split('.').nth(1).unwrap_or_default();
    parts[1] = other_body;
    let mut get = expected(None);
    get.method = "GET";
    assert_eq!(verify(&parts.join("."), &get), Err(ProofError::Signature));
    // Another key's header on this signature.
    let stranger = key_header_swap(&proof, &self::key());
    assert_eq!(
        verify(&stranger, &expected(None)),
        Err(ProofError::Signature)
    );
    for bad in ["", "a.b", "a.b.c", &"x".repeat(9000)] {
        assert!(verify(bad, &expected(None)).is_err(), "{bad:?}");
    }
}

fn key_header_swap(proof: &str, other: &ProofKey) -> String {
    let theirs = other.proof(claims(None));
    let header = theirs.split('.').next().unwrap_or_default();
    let rest: Vec<&str> = proof.split('.').skip(1).collect();
    format!("{header}.{}", rest.join("."))
}

fn with_header(header: Value) -> String {
    let encoded = URL_SAFE_NO_PAD.encode(header.to_string());
    format!("{encoded}.e30.c2ln")
}

#[test]
fn only_public_asymmetric_keys_of_the_right_type() {
    let jwk = json_key();
    let cases = [
        (
            serde_json::json!({"typ": "JWT", "alg": "ES256", "jwk": jwk}),
            ProofError::Type,
        ),
        (
            serde_json::json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}),
            ProofError::Algorithm,
        ),
        (
            serde_json::json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk}),
            ProofError::Algorithm,
        ),
        (
            serde_json::json!({"typ": "dpop+jwt", "alg": "ES256"}),
            ProofError::Key,
        ),
        (
            serde_json::json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}),
            ProofError::Key,
        ),
    ];
    for (header, error) in cases {
        assert_eq!(
            verify(&with_header(header.clone()), &expected(None)),
            Err(error),
            "{header}"
        );
    }
    let mut private = jwk.clone();
    private["d"] = Value::String("secret".into());
    let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private});
    assert_eq!(
        verify(&with_header(header), &expected(None)),
        Err(ProofError::Key)
    );
}

fn json_key() -> Value {
    serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    })
}

#[test]
fn rfc_7638_3_1_thumbprint() {
    // The RSA example key of RFC 7638 §3.1 and its thumbprint.
    let jwk = serde_json::json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    });
    assert_eq!(
        thumbprint(&jwk).as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
    assert_eq!(
        thumbprint(&serde_json::json!({"kty": "oct", "k": "x"})),
        None
    );
}

#[test]
fn an_eddsa_proof_is_checked_too() {
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap_or_else(|_| unreachable!());
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap_or_else(|_| unreachable!());
    let jwk = serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
    });
    let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
    header.typ = Some("dpop+jwt".into());
    header.jwk = serde_json::from_value(jwk.clone()).ok();
    let claims = serde_json::json!({"jti": "j-1", "htm": "POST", "htu": URI, "iat": 1_000_000});
    let key = jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref());
    let proof = jsonwebtoken::encode(&header, &claims, &key).unwrap_or_default();
    let checked = verify(&proof, &expected(None));
    assert_eq!(
        checked.map(|p| p.jkt),
        Ok(thumbprint(&jwk).unwrap_or_default())
    );
    let mut get = expected(None);
    get.method = "GET";
    assert_eq!(verify(&proof, &get), Err(ProofError::Method));
}
