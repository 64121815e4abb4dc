//! Issuing and verifying access tokens: algorithms pinned per key, claims, rotation.

use super::*;
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn tokens_with(key: &SigningKey) -> AccessTokens {
    AccessTokens::new(key, &[], "fin-intelli", "fin-intelli", Duration::minutes(15))
}

fn forge(header: &str, payload: &str, key: &[u8]) -> String {
    use hmac::{Hmac, Mac as _};
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[test]
fn ed25519_tokens_verify_until_they_expire() {
    let key = SigningKey::generate_ed25519();
    let tokens = tokens_with(&key);
    let issued = tokens.issue(42, "alice", "admin", "s1", now());
    let header = jsonwebtoken::decode_header(issued.token.expose_secret()).unwrap();
    assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::EdDSA, Some(key.kid())));
    let claims = tokens.verify(issued.token.expose_secret(), now()).unwrap();
    assert_eq!(
        (claims.user_id(), claims.role.as_str(), claims.sid.as_str()),
        (Some(42), "admin", "s1")
    );
    assert_eq!(claims.exp - claims.iat, 900);
    assert!(
        tokens
            .verify(issued.token.expose_secret(), now() + Duration::seconds(899))
            .is_ok()
    );
    assert_eq!(
        tokens.verify(issued.token.expose_secret(), now() + Duration::seconds(900)),
        Err(TokenError::Expired)
    );
}

#[test]
fn keys_survive_export_and_rebuild() {
    let key = SigningKey::generate_ed25519();
    let (algorithm, material) = key.export();
    let rebuilt = SigningKey::from_parts(key.kid(), algorithm, material.to_vec()).unwrap();
    let token = tokens_with(&key).issue(1, "a", "user", "s", now());
    assert!(tokens_with(&rebuilt).verify(token.token.expose_secret(), now()).is_ok());
    assert_eq!(
        SigningKey::from_parts("k", "RS256", vec![]).unwrap_err(),
        KeyError::Unsupported("RS256".into())
    );
    assert_eq!(SigningKey::ed25519("k", &[1, 2]).unwrap_err(), KeyError::BadSeed);
}

#[test]
fn forged_tokens_are_refused() {
    let key = SigningKey::generate_ed25519();
    let tokens = tokens_with(&key);
    let issued = tokens.issue(1, "a", "user", "s", now());
    let token = issued.token.expose_secret();
    let parts: Vec<&str> = token.split('.').collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let kid = key.kid();

    // alg: none, with and without a signature.
    let none = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#));
    assert_eq!(
        tokens.verify(&format!("{none}.{}.", parts[1]), now()),
        Err(TokenError::Invalid)
    );
    assert_eq!(
        tokens.verify(&format!("{none}.{}.{}", parts[1], parts[2]), now()),
        Err(TokenError::Invalid)
    );
    // Algorithm confusion: HS256 keyed with the published public key.
    let public = URL_SAFE_NO_PAD
        .decode(key.public_jwk().unwrap()["x"].as_str().unwrap())
        .unwrap();
    let confused = forge(
        &format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#),
        &payload,
        &public,
    );
    assert_eq!(tokens.verify(&confused, now()), Err(TokenError::Invalid));
    // A tampered payload, a stripped or truncated signature, an unknown or missing kid.
    let admin = URL_SAFE_NO_PAD.encode(payload.replace("\"user\"", "\"admin\""));
    assert_eq!(
        tokens.verify(&format!("{}.{admin}.{}", parts[0], parts[2]), now()),
        Err(TokenError::Invalid)
    );
    assert_eq!(
        tokens.verify(&format!("{}.{}.", parts[0], parts[1]), now()),
        Err(TokenError::Invalid)
    );
    assert_eq!(
        tokens.verify(&token[..token.len() - 4], now()),
        Err(TokenError::Invalid)
    );
    let other = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT","kid":"../../etc/passwd' or 1=1"}"#);
    assert_eq!(
        tokens.verify(&format!("{other}.{}.{}", parts[1], parts[2]), now()),
        Err(TokenError::UnknownKey)
    );
    let no_kid = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT"}"#);
    assert_eq!(
        tokens.verify(&format!("{no_kid}.{}.{}", parts[1], parts[2]), now()),
        Err(TokenError::Invalid)
    );
    assert_eq!(tokens.verify(&"a".repeat(5000), now()), Err(TokenError::Invalid));
}

/// The attacks of the JWT literature (RFC 8725, PortSwigger's JWT labs), each by name.
#[test]
fn attacks_from_the_jwt_literature_are_refused() {
    let key = SigningKey::generate_ed25519();
    let tokens = tokens_with(&key);
    let kid = key.kid();
    let issued = tokens.issue(1, "a", "user", "s", now());
    let token = issued.token.expose_secret();
    let parts: Vec<&str> = token.split('.').collect();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let sign = |header: Value, claims: &Value, with: &SigningKey| {
        let header: Header = serde_json::from_value(header).unwrap();
        jsonwebtoken::encode(&header, claims, &with.encoding_key()).unwrap()
    };
    let attacker = SigningKey::ed25519("attacker", &[3u8; 32]).unwrap();

    // Embedded key (CVE-2018-0114): the attacker's own public key in a `jwk` header,
    // under the attacker's kid and under ours.
    let jwk = attacker.public_jwk().unwrap();
    for claimed_kid in ["attacker", kid] {
        let forged = sign(
            json!({"alg": "EdDSA", "kid": claimed_kid, "jwk": jwk}),
            &claims,
            &attacker,
        );
        assert!(
            tokens.verify(&forged, now()).is_err(),
            "jwk header under kid {claimed_kid}"
        );
    }
    // A remote key set (`jku`, `x5u`) is never fetched: the signature still has to be ours.
    for header in [
        json!({"alg": "EdDSA", "kid": kid, "jku": "https://evil.example/jwks.json"}),
        json!({"alg": "EdDSA", "kid": kid, "x5u": "https://evil.example/cert.pem"}),
    ] {
        assert_eq!(
            tokens.verify(&sign(header, &claims, &attacker), now()),
            Err(TokenError::Invalid)
        );
    }
    // RS256/HS256 confusion: the header names RSA or HMAC, keyed with the public key.
    let public = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    for alg in ["RS256", "HS256", "HS512", "ES256", "PS256"] {
        let confused = forge(
            &format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#),
            &claims.to_string(),
            &public,
        );
        assert_eq!(tokens.verify(&confused, now()), Err(TokenError::Invalid), "{alg}");
    }
    // EdDSA/HS confusion the other way: a service keyed with an HMAC secret is handed
    // EdDSA and `none` tokens under its kid.
    let hmac = SigningKey::hs256("hs-1", vec![7u8; 32]).unwrap();
    let shared = tokens_with(&hmac);
    let eddsa = sign(json!({"alg": "EdDSA", "kid": "hs-1"}), &claims, &attacker);
    assert_eq!(shared.verify(&eddsa, now()), Err(TokenError::Invalid));
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"hs-1"}"#),
        parts[1]
    );
    assert_eq!(shared.verify(&none, now()), Err(TokenError::Invalid));

    // Our own key, but claims that make the token not (yet) valid.
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims.clone();
        change(&mut claims);
        sign(json!({"alg": "EdDSA", "kid": kid}), &claims, &key)
    };
    let later = now().timestamp() + 600;
    let not_yet = with(&|c| c["nbf"] = json!(later));
    assert_eq!(
        tokens.verify(&not_yet, now()),
        Err(TokenError::Invalid),
        "nbf in the future"
    );
    assert!(
        tokens.verify(&not_yet, now() + Duration::seconds(601)).is_ok(),
        "nbf reached"
    );
    let from_the_future = with(&|c| c["iat"] = json!(later));
    assert_eq!(
        tokens.verify(&from_the_future, now()),
        Err(TokenError::Invalid),
        "iat in the future"
    );
    let expired = with(&|c| c["exp"] = json!(now().timestamp() - 1));
    assert_eq!(tokens.verify(&expired, now()), Err(TokenError::Expired));
    for (claim, value) in [
        ("iss", "someone-else"),
        ("aud", "another-service"),
        ("sub", "not-a-number"),
    ] {
        let token = with(&|c| c[claim] = json!(value));
        assert_eq!(tokens.verify(&token, now()), Err(TokenError::Invalid), "{claim}");
    }
    for claim in ["exp", "iat", "sub", "iss", "aud"] {
        let token = with(&|c| {
            c.as_object_mut().unwrap().remove(claim);
        });
        assert_eq!(
            tokens.verify(&token, now()),
            Err(TokenError::Invalid),
            "without {claim}"
        );
    }
    // Oversized: a token padded with a huge claim is refused before it is parsed, even
    // with a valid signature.
    let oversized = with(&|c| c["padding"] = json!("x".repeat(MAX_ACCESS_TOKEN_BYTES)));
    assert_eq!(tokens.verify(&oversized, now()), Err(TokenError::Invalid));
    // Signature stripped, or moved onto another token's claims.
    assert_eq!(
        tokens.verify(&format!("{}.{}", parts[0], parts[1]), now()),
        Err(TokenError::Invalid)
    );
    let other = tokens.issue(2, "b", "admin", "s2", now());
    let other_parts: Vec<&str> = other.token.expose_secret().split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    assert_eq!(tokens.verify(&spliced, now()), Err(TokenError::Invalid));
}

#[test]
fn a_remembered_token_is_still_held_to_the_clock_and_forgeries_are_not_remembered() {
    let key = SigningKey::generate_ed25519();
    let tokens = tokens_with(&key);
    let issued = tokens.issue(1, "a", "user", "s", now());
    let token = issued.token.expose_secret();
    assert!(tokens.verify(token, now()).is_ok());
    assert!(tokens.verify(token, now()).is_ok(), "from memory");
    assert_eq!(
        tokens.verify(token, now() + Duration::minutes(15)),
        Err(TokenError::Expired)
    );
    // A changed byte is a different token: checked, and refused.
    let mut tampered = token.to_owned().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        tokens.verify(std::str::from_utf8(&tampered).unwrap(), now()),
        Err(TokenError::Invalid)
    );
    // Memory is bounded.
    for i in 0..(MAX_VERIFIED + 10) {
        let t = tokens.issue(i as i64 + 1, "a", "user", "s", now());
        assert!(tokens.verify(t.token.expose_secret(), now()).is_ok());
    }
    assert!(tokens.verified.lock().unwrap().len() <= MAX_VERIFIED);
}

#[test]
fn wrong_issuer_audience_or_key_is_refused() {
    let key = SigningKey::generate_ed25519();
    let token = tokens_with(&key).issue(1, "a", "user", "s", now());
    let token = token.token.expose_secret();
    let ttl = Duration::minutes(15);
    assert!(
        AccessTokens::new(&key, &[], "other", "fin-intelli", ttl)
            .verify(token, now())
            .is_err()
    );
    assert!(
        AccessTokens::new(&key, &[], "fin-intelli", "other", ttl)
            .verify(token, now())
            .is_err()
    );
    let impostor = SigningKey::ed25519(key.kid(), &[9u8; 32]).unwrap();
    assert_eq!(tokens_with(&impostor).verify(token, now()), Err(TokenError::Invalid));
}

#[test]
fn retired_keys_keep_verifying_and_only_public_keys_are_published() {
    let old = SigningKey::generate_ed25519();
    let new = SigningKey::generate_ed25519();
    let old_token = tokens_with(&old).issue(1, "a", "user", "s", now());
    let rotated = AccessTokens::new(&new, &[old], "fin-intelli", "fin-intelli", Duration::minutes(15));
    assert!(rotated.verify(old_token.token.expose_secret(), now()).is_ok());
    assert_eq!(rotated.jwks()["keys"].as_array().unwrap().len(), 2);

    let hmac = SigningKey::hs256("hs-1", vec![7u8; 32]).unwrap();
    let shared = tokens_with(&hmac);
    let token = shared.issue(1, "a", "user", "s", now());
    assert_eq!(
        jsonwebtoken::decode_header(token.token.expose_secret()).unwrap().alg,
        Algorithm::HS256
    );
    assert!(shared.verify(token.token.expose_secret(), now()).is_ok());
    assert_eq!(
        shared.jwks(),
        json!({ "keys": [] }),
        "an HMAC secret is never published"
    );
    assert_eq!(SigningKey::hs256("k", vec![1u8; 31]).unwrap_err(), KeyError::TooShort);
    assert!(!format!("{hmac:?}").contains("7, 7"));
}

proptest! {
    #[test]
    fn arbitrary_strings_never_verify_or_panic(s in ".{0,600}") {
        let key = SigningKey::hs256("k1", vec![7u8; 32]).unwrap();
        prop_assert!(tokens_with(&key).verify(&s, now()).is_err());
    }
}
