//! A user's passkeys in the admin console: listed on demand, each removable (a lost or
//! stolen device). The server checks that the caller is an administrator and logs the
//! removal in the owner's activity.

use leptos::prelude::*;

use crate::api::{AdminRemovePasskey, admin_user_passkeys};
use crate::components::Protected;
use crate::components::format::short_time;
use crate::wire::Passkey;

#[component]
pub fn UserPasskeys(user_id: i64) -> impl IntoView {
    let remove = ServerAction::<AdminRemovePasskey>::new();
    let list = Resource::new(move || remove.version().get(), move |_| admin_user_passkeys(user_id));
    let failed = move || match remove.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    view! {
        <Protected
            resource=list
            next="/admin/users"
            render={move |found: Vec<Passkey>| {
                if found.is_empty() {
                    return view! { <p class="muted small">"No passkeys."</p> }.into_any();
                }
                let rows = found
                    .into_iter()
                    .map(|passkey| {
                        let passkey_id = passkey.id.clone();
                        let label = format!("Remove passkey {}", passkey.name);
                        view! {
                            <li data-testid="admin-passkey">
                                {passkey.name} " "
                                <span class="muted small">{format!("added {}", short_time(&passkey.created_at))}</span>
                                <button
                                    type="button"
                                    class="secondary small danger"
                                    aria-label=label
                                    on:click=move |_| {
                                        remove
                                            .dispatch(AdminRemovePasskey {
                                                user_id,
                                                passkey_id: passkey_id.clone(),
                                            });
                                    }
                                >
                                    "Remove"
                                </button>
                            </li>
                        }
                    })
                    .collect_view();
                view! { <ul class="passkeys">{rows}</ul> }.into_any()
            }}
        />
        <Show when=move || failed().is_some()>
            <p class="error" role="alert">
                {failed}
            </p>
        </Show>
    }
}
