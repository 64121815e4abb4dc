use super::*;

const URL: &str = "https://fin.example/api/auth/refresh";

fn expected(now: DateTime<Utc>) -> Expected<'static> {
    Expected {
        target: Target {
            method: "POST",
            authority: "fin.example",
            path: "/api/auth/refresh",
        },
        now,
        access_token: None,
    }
}

fn header(key: &SoftwareKey) -> serde_json::Value {
    serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk()})
}

fn claims(now: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({"jti": "a-unique-id-0001", "htm": "POST", "htu": URL, "iat": now.timestamp()})
}

#[test]
fn a_good_proof_names_its_key() {
    let key = SoftwareKey::generate();
    let now = Utc::now();
    let proof = verify(&key.proof("POST", URL, now, Some("n0nce"), None), &expected(now)).unwrap();
    assert_eq!(proof.jkt, key.thumbprint());
    assert_eq!(proof.nonce.as_deref(), Some("n0nce"));
    // The query and fragment are ignored, the host's case too, and either scheme does.
    let other_form = "http://FIN.example/api/auth/refresh?x=1#y";
    assert!(verify(&key.proof("POST", other_form, now, None, None), &expected(now)).is_ok());
}

/// RFC 9449 section 7.1's access token and its `ath`.
#[test]
fn the_rfc_9449_ath_example() {
    assert_eq!(
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn every_broken_proof_is_refused_for_its_own_reason() {
    let key = SoftwareKey::generate();
    let other = SoftwareKey::generate();
    let now = Utc::now();
    let h = header(&key);
    let c = claims(now);
    let with = |mut value: serde_json::Value, field: &str, new: serde_json::Value| {
        value[field] = new;
        value
    };
    let unsigned = |header: serde_json::Value| {
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(c.to_string())
        )
    };
    let good = key.sign(&h, &c);
    let (head, _) = good.rsplit_once('.').unwrap();
    let cases: Vec<(String, ProofError)> = vec![
        ("x".repeat(MAX_PROOF_BYTES + 1), ProofError::TooLarge),
        ("not a jwt".to_owned(), ProofError::Malformed),
        (format!("{good}.extra"), ProofError::Malformed),
        (
            key.sign(&with(h.clone(), "typ", "jwt".into()), &c),
            ProofError::WrongType,
        ),
        (
            key.sign(&with(h.clone(), "crit", serde_json::json!(["exp"])), &c),
            ProofError::Malformed,
        ),
        (
            unsigned(with(h.clone(), "alg", "none".into())),
            ProofError::UnsupportedAlgorithm,
        ),
        (
            key.sign(&with(h.clone(), "alg", "HS256".into()), &c),
            ProofError::UnsupportedAlgorithm,
        ),
        (
            key.sign(&with(h.clone(), "alg", "RS256".into()), &c),
            ProofError::BadKey,
        ),
        (
            key.sign(&with(h.clone(), "jwk", serde_json::Value::Null), &c),
            ProofError::BadKey,
        ),
        (
            key.sign(&with(h.clone(), "jwk", other.jwk()), &c),
            ProofError::BadSignature,
        ),
        (format!("{head}.AAAA"), ProofError::BadSignature),
        (key.sign(&h, &with(c.clone(), "jti", "".into())), ProofError::Malformed),
        (
            key.sign(&h, &with(c.clone(), "jti", "j".repeat(MAX_JTI_CHARS + 1).into())),
            ProofError::Malformed,
        ),
        (
            key.sign(&h, &with(c.clone(), "iat", "yesterday".into())),
            ProofError::Malformed,
        ),
        (
            key.sign(
                &h,
                &serde_json::json!({"htm": "POST", "htu": URL, "iat": now.timestamp()}),
            ),
            ProofError::Malformed,
        ),
        (
            key.proof("POST", URL, now - PROOF_MAX_AGE - Duration::seconds(1), None, None),
            ProofError::Stale,
        ),
        (
            key.proof("POST", URL, now + PROOF_SKEW + Duration::seconds(1), None, None),
            ProofError::Stale,
        ),
        (key.proof("GET", URL, now, None, None), ProofError::WrongTarget),
        (
            key.proof("POST", "https://fin.example/api/auth/login", now, None, None),
            ProofError::WrongTarget,
        ),
        (
            key.proof("POST", "https://evil.example/api/auth/refresh", now, None, None),
            ProofError::WrongTarget,
        ),
        (
            key.proof("POST", "/api/auth/refresh", now, None, None),
            ProofError::WrongTarget,
        ),
    ];
    for (proof, why) in cases {
        assert_eq!(verify(&proof, &expected(now)), Err(why), "{proof:.120}");
    }
}

#[test]
fn at_a_resource_the_proof_names_its_access_token() {
    let key = SoftwareKey::generate();
    let now = Utc::now();
    let mut at_me = expected(now);
    at_me.target = Target {
        method: "GET",
        authority: "fin.example",
        path: "/api/me",
    };
    at_me.access_token = Some("the-token");
    let url = "https://fin.example/api/me";
    assert!(verify(&key.proof("GET", url, now, None, Some("the-token")), &at_me).is_ok());
    for ath in [None, Some("another-token")] {
        assert_eq!(
            verify(&key.proof("GET", url, now, None, ath), &at_me),
            Err(ProofError::WrongAccessToken)
        );
    }
}
