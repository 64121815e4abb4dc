//! `navigator.credentials` through `Reflect`: web-sys has the WebAuthn Level 3 JSON
//! helpers only as unstable bindings.

use js_sys::{Array, Function, JSON, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::WebAuthnError;

/// Whether this browser speaks WebAuthn with the Level 3 JSON helpers.
pub fn supported() -> bool {
    credential_class()
        .is_some_and(|class| Reflect::get(&class, &"parseRequestOptionsFromJSON".into()).is_ok_and(|f| f.is_function()))
}

/// Whether the options' `rpId` is this page's host.
pub fn rp_matches_page(options_json: &str) -> bool {
    let rp_id = JSON::parse(options_json)
        .ok()
        .and_then(|options| Reflect::get(&options, &"rpId".into()).ok())
        .and_then(|id| id.as_string());
    let host = web_sys::window().and_then(|w| w.location().hostname().ok());
    match (rp_id, host) {
        // Exactly, as the server accepts exactly its own origin.
        (Some(rp_id), Some(host)) => host == rp_id,
        _ => false,
    }
}

/// Signs request options with a passkey the person picks (a modal prompt).
pub async fn sign_in(options_json: &str) -> Result<String, WebAuthnError> {
    request("get", "parseRequestOptionsFromJSON", options_json, None).await
}

/// Offers the site's passkeys in the username field's autofill (conditional mediation);
/// resolves only if the person picks one. `abort` ends the offer.
pub async fn autofill(options_json: &str, abort: &web_sys::AbortSignal) -> Result<String, WebAuthnError> {
    let class = credential_class().ok_or(WebAuthnError::Unsupported)?;
    let available = call(&class, "isConditionalMediationAvailable", &[])
        .ok()
        .and_then(|p| p.dyn_into::<Promise>().ok());
    let available = match available {
        Some(promise) => JsFuture::from(promise).await.is_ok_and(|v| v.is_truthy()),
        None => false,
    };
    if !available {
        return Err(WebAuthnError::Unsupported);
    }
    request("get", "parseRequestOptionsFromJSON", options_json, Some(abort)).await
}

/// Makes a new passkey from creation options.
pub async fn create(options_json: &str) -> Result<String, WebAuthnError> {
    request("create", "parseCreationOptionsFromJSON", options_json, None).await
}

/// `navigator.credentials[method]({publicKey, mediation?, signal?})`, answered as JSON text.
async fn request(
    method: &str,
    parser: &str,
    options_json: &str,
    conditional: Option<&web_sys::AbortSignal>,
) -> Result<String, WebAuthnError> {
    let class = credential_class().ok_or(WebAuthnError::Unsupported)?;
    let options = JSON::parse(options_json).map_err(failed)?;
    let public_key = call(&class, parser, &[options])?;
    let request = Object::new();
    Reflect::set(&request, &"publicKey".into(), &public_key).map_err(failed)?;
    if let Some(signal) = conditional {
        Reflect::set(&request, &"mediation".into(), &"conditional".into()).map_err(failed)?;
        Reflect::set(&request, &"signal".into(), signal).map_err(failed)?;
    }
    let window = web_sys::window().ok_or(WebAuthnError::Unsupported)?;
    let navigator = Reflect::get(&window, &"navigator".into()).map_err(failed)?;
    let container = Reflect::get(&navigator, &"credentials".into()).map_err(failed)?;
    let promise: Promise = call(&container, method, &[request.into()])?
        .dyn_into()
        .map_err(failed)?;
    let credential = JsFuture::from(promise).await.map_err(rejected)?;
    if credential.is_null() || credential.is_undefined() {
        return Err(WebAuthnError::Cancelled);
    }
    let json = call(&credential, "toJSON", &[])?;
    JSON::stringify(&json)
        .map_err(failed)?
        .as_string()
        .ok_or_else(|| WebAuthnError::Failed("no JSON".to_owned()))
}

fn credential_class() -> Option<JsValue> {
    let window = web_sys::window()?;
    Reflect::get(&window, &"PublicKeyCredential".into())
        .ok()
        .filter(|class| class.is_function())
}

fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, WebAuthnError> {
    let function: Function = Reflect::get(target, &method.into())
        .map_err(failed)?
        .dyn_into()
        .map_err(|_| WebAuthnError::Unsupported)?;
    function
        .apply(target, &args.iter().collect::<Array>())
        .map_err(rejected)
}

/// A refusal from the browser: `NotAllowedError` and `AbortError` are the person (or the
/// page) calling it off; anything else is a failure worth showing.
fn rejected(error: JsValue) -> WebAuthnError {
    let name = Reflect::get(&error, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "AbortError" => WebAuthnError::Cancelled,
        // A creation whose excluded credentials this authenticator holds.
        "InvalidStateError" => WebAuthnError::Failed("this device already holds a passkey for your account".to_owned()),
        _ => failed(error),
    }
}

fn failed(error: JsValue) -> WebAuthnError {
    let message = Reflect::get(&error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "unknown error".to_owned());
    WebAuthnError::Failed(message)
}
