//! The page's own device key, where the browser has no DBSC: a non-extractable ECDSA P-256
//! key made with WebCrypto and kept in IndexedDB, which stores the key object itself, so
//! its private half never exists as bytes a script could read or send. The server binds a
//! fresh session to the public half; each refresh then carries a DPoP-shaped proof
//! (RFC 9449: method, URL, time, a unique id, the server's nonce) only this key can sign.
//!
//! One key per browser profile and site, kept across sign-outs like the device cookie: it
//! names the device, not a session.

use js_sys::{Array, Object, Reflect, Uint8Array};
use serde_json::{Value, json};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use super::base64url::base64url;
use super::key_store;

pub struct DeviceKey {
    private: CryptoKey,
    /// The public half as a JWK (`kty`, `crv`, `x`, `y`), for each proof's header.
    public_jwk: Value,
}

impl DeviceKey {
    /// The key this browser made before, if any.
    pub async fn held() -> Option<Self> {
        let pair = key_store::read().await.ok()??;
        Self::from_pair(&pair).await.ok()
    }

    /// The key this browser holds, or a new one kept for next time. Two tabs making one at
    /// once both end up with the first one stored (the store only adds).
    pub async fn held_or_new() -> Result<Self, JsValue> {
        if let Some(key) = Self::held().await {
            return Ok(key);
        }
        let algorithm = object(&[("name", "ECDSA"), ("namedCurve", "P-256")])?;
        let usages = Array::of1(&JsValue::from_str("sign"));
        // Not extractable: WebCrypto will sign with it, never hand it out.
        let pair = JsFuture::from(subtle()?.generate_key_with_object(&algorithm, false, &usages)?).await?;
        let pair = key_store::add(&pair).await?;
        Self::from_pair(&pair).await
    }

    async fn from_pair(pair: &JsValue) -> Result<Self, JsValue> {
        let private: CryptoKey = Reflect::get(pair, &"privateKey".into())?.dyn_into()?;
        let public: CryptoKey = Reflect::get(pair, &"publicKey".into())?.dyn_into()?;
        let jwk = JsFuture::from(subtle()?.export_key("jwk", &public)?).await?;
        let coordinate = |name: &str| Reflect::get(&jwk, &name.into()).ok().and_then(|v| v.as_string());
        let (Some(x), Some(y)) = (coordinate("x"), coordinate("y")) else {
            return Err("the device key's public half has no coordinates".into());
        };
        Ok(Self {
            private,
            public_jwk: json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
        })
    }

    /// A `dpop+jwt` proof for one request: `method` on the absolute `url`, made at `iat`
    /// (Unix seconds), with the server's `nonce` where it gave one.
    pub async fn proof(&self, method: &str, url: &str, iat: i64, nonce: Option<&str>) -> Result<String, JsValue> {
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk });
        let mut claims = json!({
            "jti": base64url(&random_bytes::<16>()?),
            "htm": method,
            "htu": url,
            "iat": iat,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        let signing_input = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let algorithm = object(&[("name", "ECDSA"), ("hash", "SHA-256")])?;
        let signing = subtle()?.sign_with_object_and_u8_array(&algorithm, &self.private, signing_input.as_bytes())?;
        // WebCrypto's ECDSA signature is r || s, 64 bytes: exactly JWS's ES256 form.
        let signature = Uint8Array::new(&JsFuture::from(signing).await?).to_vec();
        Ok(format!("{signing_input}.{}", base64url(&signature)))
    }
}

fn subtle() -> Result<SubtleCrypto, JsValue> {
    Ok(crypto()?.subtle())
}

fn crypto() -> Result<web_sys::Crypto, JsValue> {
    web_sys::window().ok_or("no window")?.crypto()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], JsValue> {
    let mut bytes = [0u8; N];
    crypto()?.get_random_values_with_u8_array(&mut bytes)?;
    Ok(bytes)
}

fn object(fields: &[(&str, &str)]) -> Result<Object, JsValue> {
    let object = Object::new();
    for (name, value) in fields {
        Reflect::set(&object, &(*name).into(), &(*value).into())?;
    }
    Ok(object)
}
