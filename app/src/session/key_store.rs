//! Where the device key lives: one IndexedDB record holding the WebCrypto key pair as the
//! browser's own objects (a structured clone), which a non-extractable key needs: its
//! private half cannot be written out any other way.

use js_sys::{Function, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbObjectStore, IdbRequest, IdbTransactionMode};

const DATABASE: &str = "fin_intelli";
const VERSION: u32 = 1;
const STORE: &str = "device_keys";
/// The one record: the key of this browser profile on this site.
const RECORD: &str = "device";

/// The stored key pair, if there is one.
pub async fn read() -> Result<Option<JsValue>, JsValue> {
    let database = open().await?;
    let found = settled(&store(&database, IdbTransactionMode::Readonly)?.get(&RECORD.into())?).await;
    database.close();
    Ok(found?).map(|pair| (!pair.is_undefined()).then_some(pair))
}

/// Stores `pair` unless a pair is there already (another tab was quicker), and returns the
/// pair that is stored: every tab then signs with the same key.
pub async fn add(pair: &JsValue) -> Result<JsValue, JsValue> {
    let database = open().await?;
    let added = match store(&database, IdbTransactionMode::Readwrite)?.add_with_key(pair, &RECORD.into()) {
        Ok(request) => settled(&request).await,
        Err(error) => Err(error),
    };
    database.close();
    match added {
        Ok(_) => Ok(pair.clone()),
        // A `ConstraintError`: the record exists; use it.
        Err(error) => read().await?.ok_or(error),
    }
}

fn store(database: &IdbDatabase, mode: IdbTransactionMode) -> Result<IdbObjectStore, JsValue> {
    database.transaction_with_str_and_mode(STORE, mode)?.object_store(STORE)
}

async fn open() -> Result<IdbDatabase, JsValue> {
    let factory = web_sys::window()
        .ok_or("no window")?
        .indexed_db()?
        .ok_or("IndexedDB is not available")?;
    let request = factory.open_with_u32(DATABASE, VERSION)?;
    let upgrading = request.clone();
    // First open (or a new version): make the store. Out-of-line keys: the record is a
    // key pair, which has no field to serve as its own key.
    let upgrade = Closure::once_into_js(move |_: web_sys::Event| {
        if let Ok(database) = upgrading.result().and_then(|d| d.dyn_into::<IdbDatabase>())
            && !database.object_store_names().contains(STORE)
        {
            let _ = database.create_object_store(STORE);
        }
    });
    request.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
    settled(&request).await?.dyn_into()
}

/// Waits for an IndexedDB request: its result, or its error.
async fn settled(request: &IdbRequest) -> Result<JsValue, JsValue> {
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let succeeded = request.clone();
        let on_success = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call1(&JsValue::NULL, &succeeded.result().unwrap_or(JsValue::UNDEFINED));
        });
        let failed = request.clone();
        let on_error = Closure::once_into_js(move |event: web_sys::Event| {
            // Handled here: without this the error would also abort the transaction noisily.
            event.prevent_default();
            let error = failed.error().ok().flatten().map_or(JsValue::UNDEFINED, JsValue::from);
            let _ = reject.call1(&JsValue::NULL, &error);
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
    });
    JsFuture::from(promise).await
}
