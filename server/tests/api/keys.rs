//! Access-token keys: EdDSA by default, published as a JWKS, rotated without signing anyone
//! out; HS256 when a shared secret is configured; forged tokens refused over HTTP.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::helpers::{TestApp, error_code};

async fn jwks(app: &TestApp) -> Value {
    let response = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    response.json().await.unwrap()
}

#[tokio::test]
async fn tokens_are_eddsa_and_their_key_is_published() {
    let app = TestApp::spawn().await;
    app.create_user("yuki", false).await;
    let (access, _) = app.login_tokens("yuki").await;
    let header = jsonwebtoken::decode_header(&access).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let keys = jwks(&app).await;
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"].as_str(), header.kid.as_deref());
    assert_eq!(
        (keys[0]["kty"].as_str(), keys[0]["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert!(keys[0].get("d").is_none(), "never the private part");

    // Anyone can verify a token with the published key alone.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["fin-intelli"]);
    let decoded = jsonwebtoken::decode::<Value>(
        &access,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    );
    assert_eq!(decoded.unwrap().claims["name"], "yuki");
    app.stop().await;
}

#[tokio::test]
async fn a_key_rotation_signs_nobody_out_on_any_instance() {
    let app = TestApp::spawn().await;
    app.create_user("zane", false).await;
    let (before, _) = app.login_tokens("zane").await;
    let kid = server::service::rotate_signing_key(app.store().as_ref(), app.clock.as_ref())
        .await
        .unwrap();

    // A second instance starting now signs with the new key and still accepts old tokens.
    let second = app.second_instance(&[]).await;
    assert!(
        second.services.auth.authenticate(&before).await.is_ok(),
        "the retired key still verifies"
    );
    assert_eq!(second.services.auth.jwks()["keys"].as_array().unwrap().len(), 2);

    // The first instance has never seen the new key; a token signed with it makes it look.
    let password = secrecy::SecretString::from(crate::helpers::PASSWORD.to_owned());
    let fresh = second
        .services
        .sign_in
        .sign_in("zane", password, &client())
        .await
        .unwrap();
    let signed_by_second = secrecy::ExposeSecret::expose_secret(&fresh.access.token).to_owned();
    assert_eq!(
        jsonwebtoken::decode_header(&signed_by_second).unwrap().kid.as_deref(),
        Some(kid.as_str())
    );
    assert_eq!(app.get_me(&signed_by_second).await.status(), 200);
    assert_eq!(jwks(&app).await["keys"].as_array().unwrap().len(), 2);
    app.stop().await;
}

fn hs256(header: &str, payload: &str, key: &[u8]) -> String {
    use hmac::{Hmac, Mac as _};
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

async fn public_key(app: &TestApp) -> Vec<u8> {
    let keys = jwks(app).await;
    URL_SAFE_NO_PAD.decode(keys["keys"][0]["x"].as_str().unwrap()).unwrap()
}

/// A token signed with the server's own key but for another audience.
async fn other_audience_token(app: &TestApp) -> String {
    let other = app.second_instance(&[("FIN_JWT_AUDIENCE", "another-service")]).await;
    let password = secrecy::SecretString::from(crate::helpers::PASSWORD.to_owned());
    let signed_in = other
        .services
        .sign_in
        .sign_in("bea", password, &client())
        .await
        .unwrap();
    secrecy::ExposeSecret::expose_secret(&signed_in.access.token).to_owned()
}

fn client() -> server::domain::client::ClientInfo {
    server::domain::client::ClientInfo::new("127.0.0.1".parse().unwrap(), Some("fin-tests/1.0"))
}

#[tokio::test]
async fn a_configured_secret_signs_with_hs256_and_publishes_nothing() {
    let app = TestApp::spawn_with(&[("FIN_JWT_SECRET", "a shared secret of at least thirty-two characters")]).await;
    app.create_user("abel", false).await;
    let (access, _) = app.login_tokens("abel").await;
    assert_eq!(
        jsonwebtoken::decode_header(&access).unwrap().alg,
        jsonwebtoken::Algorithm::HS256
    );
    assert_eq!(app.get_me(&access).await.status(), 200);
    assert_eq!(jwks(&app).await["keys"].as_array().unwrap().len(), 0);
    app.stop().await;
}

/// A validly signed token whose `sid` is another user's session names no session at all:
/// `sid` and `sub` are checked together.
#[tokio::test]
async fn a_token_for_someone_elses_session_is_refused() {
    const SECRET: &str = "a shared secret of at least thirty-two characters";
    let app = TestApp::spawn_with(&[("FIN_JWT_SECRET", SECRET)]).await;
    app.create_user("abel", false).await;
    let bea = app.create_user("bea", false).await;
    let (access, _) = app.login_tokens("abel").await;
    assert_eq!(app.get_me(&access).await.status(), 200);
    let payload = access.split('.').nth(1).unwrap();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"] = Value::String(bea.to_string());
    let header = String::from_utf8(URL_SAFE_NO_PAD.decode(access.split('.').next().unwrap()).unwrap()).unwrap();
    let forged = hs256(&header, &claims.to_string(), SECRET.as_bytes());
    assert_eq!(error_code(app.get_me(&forged).await, 401).await, "invalid_token");
    app.stop().await;
}

#[tokio::test]
async fn a_configured_ed25519_key_signs_and_is_published() {
    let seed = [42u8; 32];
    let encoded = base64::engine::general_purpose::STANDARD.encode(seed);
    let app = TestApp::spawn_with(&[("FIN_JWT_ED25519_KEY", encoded.as_str())]).await;
    app.create_user("cato", false).await;
    let (access, _) = app.login_tokens("cato").await;
    let expected = server::domain::access::SigningKey::ed25519_from_seed(&seed).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&access).unwrap().kid.as_deref(),
        Some(expected.kid())
    );
    assert_eq!(jwks(&app).await["keys"][0], expected.public_jwk().unwrap());
    assert_eq!(app.get_me(&access).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn forged_access_tokens_are_refused_with_json() {
    let app = TestApp::spawn().await;
    app.create_user("bea", false).await;
    let (access, _) = app.login_tokens("bea").await;
    let parts: Vec<&str> = access.split('.').collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let kid = jsonwebtoken::decode_header(&access).unwrap().kid.unwrap();
    let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let forged = [
        format!("{}.{}.", enc(&format!(r#"{{"alg":"none","kid":"{kid}"}}"#)), parts[1]),
        format!(
            "{}.{}.{}",
            enc(r#"{"alg":"EdDSA","kid":"x' or '1'='1"}"#),
            parts[1],
            parts[2]
        ),
        format!(
            "{}.{}.{}",
            enc(&format!(
                r#"{{"alg":"EdDSA","kid":"{kid}","jku":"https://evil.example/jwks"}}"#
            )),
            parts[1],
            parts[2]
        ),
        format!(
            "{}.{}.{}",
            parts[0],
            enc(&payload.replace("\"user\"", "\"admin\"")),
            parts[2]
        ),
        format!("{}.{}", parts[0], parts[1]),
        access[..access.len() - 10].to_owned(),
        // Algorithm confusion: HS256 keyed with the published Ed25519 public key.
        hs256(
            &format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#),
            &payload,
            &public_key(&app).await,
        ),
        // A valid signature over the wrong audience or issuer is still refused: sign with the
        // real key through a second service configured for another audience.
        other_audience_token(&app).await,
    ];
    for token in forged {
        assert_eq!(
            error_code(app.get_me(&token).await, 401).await,
            "invalid_token",
            "{token}"
        );
    }
    app.stop().await;
}
