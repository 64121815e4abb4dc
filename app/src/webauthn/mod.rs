//! The browser's half of WebAuthn: the server's options in, the authenticator's answer out,
//! both as WebAuthn Level 3's JSON (`PublicKeyCredential.parse…OptionsFromJSON` and
//! `toJSON()`), so no byte juggling happens here and the server reads exactly what the
//! browser produced.
//!
//! Pages call these from event handlers and effects, which run only in the browser. The
//! server render has no `navigator`: there every call answers `Unsupported`, so the pages
//! need no `cfg` of their own.

#[cfg(feature = "browser")]
mod browser;

/// Why no credential came back.
#[derive(Debug, Clone, PartialEq, Eq)]
// The server render only ever answers `Unsupported`.
#[cfg_attr(not(feature = "browser"), allow(dead_code))]
pub enum WebAuthnError {
    /// This browser has no passkey support (or not the JSON helpers).
    Unsupported,
    /// The person closed the prompt, or it timed out, or another request replaced it:
    /// nothing to report.
    Cancelled,
    Failed(String),
}

impl std::fmt::Display for WebAuthnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebAuthnError::Unsupported => f.write_str("This browser cannot use passkeys."),
            WebAuthnError::Cancelled => f.write_str("The passkey request was cancelled."),
            WebAuthnError::Failed(why) => write!(f, "The passkey request failed: {why}"),
        }
    }
}

/// Whether this browser speaks WebAuthn with the Level 3 JSON helpers.
pub fn supported() -> bool {
    #[cfg(feature = "browser")]
    return browser::supported();
    #[cfg(not(feature = "browser"))]
    false
}

/// Whether passkeys for these options can work on this page: the relying party they name
/// must be the page's host (a page reached by address, as `127.0.0.1`, cannot use passkeys
/// made for `localhost`, and the server accepts its own origin only).
pub fn usable_for(options_json: &str) -> bool {
    #[cfg(feature = "browser")]
    return supported() && browser::rp_matches_page(options_json);
    #[cfg(not(feature = "browser"))]
    {
        let _ = options_json;
        false
    }
}

/// Signs request options with a passkey the person picks (a modal prompt).
pub async fn sign_in(options_json: &str) -> Result<String, WebAuthnError> {
    #[cfg(feature = "browser")]
    return browser::sign_in(options_json).await;
    #[cfg(not(feature = "browser"))]
    {
        let _ = options_json;
        Err(WebAuthnError::Unsupported)
    }
}

/// Makes a new passkey from creation options.
pub async fn create(options_json: &str) -> Result<String, WebAuthnError> {
    #[cfg(feature = "browser")]
    return browser::create(options_json).await;
    #[cfg(not(feature = "browser"))]
    {
        let _ = options_json;
        Err(WebAuthnError::Unsupported)
    }
}

/// The site's passkeys offered in the username field's autofill (conditional mediation),
/// until the person picks one or the page calls the offer off (before a modal request,
/// which may not run beside it, and when the page goes away).
#[derive(Clone)]
pub struct Autofill {
    #[cfg(feature = "browser")]
    controller: web_sys::AbortController,
}

impl Autofill {
    pub fn new() -> Option<Self> {
        #[cfg(feature = "browser")]
        return web_sys::AbortController::new()
            .ok()
            .map(|controller| Self { controller });
        #[cfg(not(feature = "browser"))]
        None
    }

    /// Resolves only if the person picks a passkey from the autofill.
    pub async fn offer(&self, options_json: &str) -> Result<String, WebAuthnError> {
        #[cfg(feature = "browser")]
        return browser::autofill(options_json, &self.controller.signal()).await;
        #[cfg(not(feature = "browser"))]
        {
            let _ = options_json;
            Err(WebAuthnError::Unsupported)
        }
    }

    pub fn abort(&self) {
        #[cfg(feature = "browser")]
        self.controller.abort();
    }
}
