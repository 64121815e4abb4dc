//! The page's end of `GET /api/admin/stream`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::{Either, select};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::MessageEvent;

use super::feed::{Connection, Feed, now_seconds};
use crate::api::{Activity, live_activity};

/// Resolves after `ms` milliseconds.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// An `EventSource` opened `withCredentials`, so the access cookie goes along when the
/// API is on another origin of the same site (the static bundle; gloo's cannot ask for
/// it), delivering its `activity` and `reset` events to a channel.
struct Source {
    source: web_sys::EventSource,
    listeners: Vec<(&'static str, Listener)>,
}

type Listener = Closure<dyn FnMut(MessageEvent)>;

impl Source {
    fn open(url: &str) -> Option<(Self, mpsc::UnboundedReceiver<(&'static str, MessageEvent)>)> {
        let init = web_sys::EventSourceInit::new();
        init.set_with_credentials(true);
        let source = web_sys::EventSource::new_with_event_source_init_dict(url, &init).ok()?;
        let (tx, rx) = mpsc::unbounded();
        let mut opened = Self {
            source,
            listeners: Vec::new(),
        };
        for kind in ["activity", "reset"] {
            let tx = tx.clone();
            let listener = Listener::new(move |message: MessageEvent| {
                let _ = tx.unbounded_send((kind, message));
            });
            opened
                .source
                .add_event_listener_with_callback(kind, listener.as_ref().unchecked_ref())
                .ok()?;
            opened.listeners.push((kind, listener));
        }
        Some((opened, rx))
    }

    fn ready_state(&self) -> u16 {
        self.source.ready_state()
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.source.close();
        for (kind, listener) in &self.listeners {
            let _ = self
                .source
                .remove_event_listener_with_callback(kind, listener.as_ref().unchecked_ref());
        }
    }
}

/// Subscribes until the page goes away, reconnecting after every loss. The browser's
/// own `EventSource` retries resume with `Last-Event-ID`; when it gives up (the server
/// refused, say because the access token expired and the session keeper has since
/// renewed it), a new one starts from the newest event the page holds.
pub fn go_live(feed: Feed) {
    let alive = Arc::new(AtomicBool::new(true));
    on_cleanup({
        let alive = alive.clone();
        move || alive.store(false, Ordering::Relaxed)
    });
    spawn_local(async move {
        while alive.load(Ordering::Relaxed) {
            let url = crate::api::url(&format!("/api/admin/stream?last_event_id={}", feed.newest_id()));
            let Some((source, mut messages)) = Source::open(&url) else {
                sleep(3000).await;
                continue;
            };
            loop {
                let tick = Box::pin(sleep(1000));
                match select(messages.next(), tick).await {
                    Either::Left((Some((kind, message)), _)) => {
                        feed.connection.set(Connection::Live);
                        if kind == "reset" {
                            // Too far behind to replay: start again from the newest events.
                            if let Ok(events) = live_activity().await {
                                feed.held.set(Vec::new());
                                feed.events.set(events);
                            }
                        } else if let Some(event) = message
                            .data()
                            .as_string()
                            .and_then(|d| serde_json::from_str::<Activity>(&d).ok())
                        {
                            feed.arrive(event);
                        }
                    }
                    // Closed for good: start a new connection.
                    Either::Left(_) => break,
                    Either::Right(_) => {
                        if !alive.load(Ordering::Relaxed) {
                            break;
                        }
                        feed.now.set(now_seconds());
                        match source.ready_state() {
                            web_sys::EventSource::OPEN => feed.connection.set(Connection::Live),
                            web_sys::EventSource::CONNECTING => feed.connection.set(Connection::Reconnecting),
                            _ => break,
                        }
                    }
                }
            }
            drop(source);
            if alive.load(Ordering::Relaxed) {
                feed.connection.set(Connection::Reconnecting);
                sleep(2000).await;
            }
        }
    });
}
