//! The admin console's accounts: search, create, activate or deactivate, grant or remove
//! the admin role, reset a password, end sessions, see and remove passkeys. The server checks every call; this page
//! only offers what an administrator may ask for.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use super::user_passkeys::UserPasskeys;
use crate::api::{
    AdminCreateUser, AdminEndSessions, AdminResetPassword, AdminUnlockFactor, AdminUpdateUser, AdminUser, AppError,
    admin_users,
};
use crate::components::Protected;
use crate::components::format::short_time;

#[component]
pub fn UsersPage() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("q").unwrap_or_default();
    let create = ServerAction::<AdminCreateUser>::new();
    let update = ServerAction::<AdminUpdateUser>::new();
    let reset = ServerAction::<AdminResetPassword>::new();
    let unlock = ServerAction::<AdminUnlockFactor>::new();
    let end = ServerAction::<AdminEndSessions>::new();
    let users = Resource::new_blocking(
        move || (search(), create.version().get(), update.version().get()),
        |(search, _, _)| admin_users(search),
    );
    let actions = Actions {
        update,
        reset,
        end,
        unlock,
    };

    view! {
        <Title text="Users" />
        <section class="card wide">
            <h1>"Users"</h1>
            <Form method="GET" action="/admin/users">
                <div class="filters">
                    <label>
                        "Search" <input type="search" name="q" prop:value=search placeholder="name or e-mail" />
                    </label>
                    <button type="submit">"Search"</button>
                </div>
            </Form>
            <Outcome actions />
            <Protected
                resource=users
                next="/admin/users"
                render={move |users: Vec<AdminUser>| {
                    if users.is_empty() {
                        view! { <p class="muted">"No account matches."</p> }.into_any()
                    } else {
                        view! { <UserTable users actions /> }.into_any()
                    }
                }}
            />
            <h2>"New account"</h2>
            <ActionForm action=create attr:class="inline-form" attr:data-testid="create-user">
                <label>"Username" <input type="text" name="username" required autocomplete="off" /></label>
                <label>"E-mail" <input type="email" name="email" required autocomplete="off" /></label>
                <label>
                    "Password"
                    <input type="password" name="password" required minlength="12" autocomplete="new-password" />
                </label>
                <label class="check">
                    <input type="checkbox" name="is_admin" />
                    "Administrator"
                </label>
                <button type="submit">"Create"</button>
            </ActionForm>
            {move || {
                create
                    .value()
                    .get()
                    .map(|r| match r {
                        Ok(u) => {
                            view! {
                                <p class="notice" role="status">
                                    {format!("Created {}.", u.username)}
                                </p>
                            }
                                .into_any()
                        }
                        Err(e) => {
                            view! {
                                <p class="error" role="alert">
                                    {e.to_string()}
                                </p>
                            }
                                .into_any()
                        }
                    })
            }}
        </section>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    update: ServerAction<AdminUpdateUser>,
    reset: ServerAction<AdminResetPassword>,
    end: ServerAction<AdminEndSessions>,
    unlock: ServerAction<AdminUnlockFactor>,
}

/// What the last row action did, or why it failed.
#[component]
fn Outcome(actions: Actions) -> impl IntoView {
    let text = move || {
        let said = |r: Option<Result<String, AppError>>| r.map(|r| r.map_err(|e| e.to_string()));
        said(
            actions
                .update
                .value()
                .get()
                .map(|r| r.map(|u| format!("Saved {}.", u.username))),
        )
        .or_else(|| {
            said(
                actions
                    .reset
                    .value()
                    .get()
                    .map(|r| r.map(|()| "Password set; the user's sessions ended.".to_owned())),
            )
        })
        .or_else(|| {
            said(
                actions
                    .end
                    .value()
                    .get()
                    .map(|r| r.map(|n| format!("{n} session(s) ended."))),
            )
        })
        .or_else(|| {
            said(actions.unlock.value().get().map(|r| {
                r.map(|unlocked| {
                    if unlocked {
                        "Authenticator unlocked; its wrong-code count starts afresh.".to_owned()
                    } else {
                        "The authenticator was not locked.".to_owned()
                    }
                })
            }))
        })
    };
    move || {
        text().map(|r| match r {
            Ok(text) => view! {
                <p class="notice" role="status" data-testid="outcome">
                    {text}
                </p>
            }
            .into_any(),
            Err(text) => view! {
                <p class="error" role="alert">
                    {text}
                </p>
            }
            .into_any(),
        })
    }
}

#[component]
fn UserTable(users: Vec<AdminUser>, actions: Actions) -> impl IntoView {
    let rows = users
        .into_iter()
        .map(|u| {
            let id = u.id;
            let (active, admin, you) = (u.is_active, u.is_admin, u.you);
            let resetting = RwSignal::new(false);
            let showing_passkeys = RwSignal::new(false);
            view! {
                <tr data-testid="user-row" data-user=u.username.clone() class:inactive=!active>
                    <td>
                        <strong>{u.username.clone()}</strong>
                        <div class="muted small">{u.email.clone()}</div>
                    </td>
                    <td>{if admin { "admin" } else { "user" }}</td>
                    <td>{if active { "active" } else { "deactivated" }}</td>
                    <td class="small">{short_time(&u.created_at)}</td>
                    <td>
                        <div class="row-actions">
                            // The server refuses an administrator's own deactivation or
                            // demotion; the console does not offer it.
                            <Show
                                when=move || !you
                                fallback=|| {
                                    view! {
                                        <span class="badge" data-testid="you">
                                            "You"
                                        </span>
                                    }
                                }
                            >
                                <button
                                    type="button"
                                    class="secondary small"
                                    class:danger=active
                                    on:click=move |_| {
                                        actions
                                            .update
                                            .dispatch(AdminUpdateUser {
                                                user_id: id,
                                                is_active: Some(!active),
                                                is_admin: None,
                                            });
                                    }
                                >
                                    {if active { "Deactivate" } else { "Activate" }}
                                </button>
                                <button
                                    type="button"
                                    class="secondary small"
                                    on:click=move |_| {
                                        actions
                                            .update
                                            .dispatch(AdminUpdateUser {
                                                user_id: id,
                                                is_active: None,
                                                is_admin: Some(!admin),
                                            });
                                    }
                                >
                                    {if admin { "Remove admin" } else { "Make admin" }}
                                </button>
                            </Show>
                            <button
                                type="button"
                                class="secondary small danger"
                                on:click=move |_| {
                                    actions.end.dispatch(AdminEndSessions { user_id: id });
                                }
                            >
                                "End sessions"
                            </button>
                            <button
                                type="button"
                                class="secondary small"
                                on:click=move |_| {
                                    actions.unlock.dispatch(AdminUnlockFactor { user_id: id });
                                }
                            >
                                "Unlock authenticator"
                            </button>
                            <button
                                type="button"
                                class="secondary small"
                                on:click=move |_| resetting.update(|r| *r = !*r)
                            >
                                "Reset password"
                            </button>
                            <button
                                type="button"
                                class="secondary small"
                                aria-expanded=move || showing_passkeys.get().to_string()
                                on:click=move |_| showing_passkeys.update(|s| *s = !*s)
                            >
                                "Passkeys"
                            </button>
                        </div>
                        <Show when=move || showing_passkeys.get()>
                            <UserPasskeys user_id=id />
                        </Show>
                        <Show when=move || resetting.get()>
                            <ActionForm action=actions.reset attr:class="inline-form">
                                <input type="hidden" name="user_id" value=id.to_string() />
                                <label>
                                    "New password"
                                    <input
                                        type="password"
                                        name="password"
                                        required
                                        minlength="12"
                                        autocomplete="new-password"
                                    />
                                </label>
                                <button type="submit" class="small">
                                    "Set"
                                </button>
                            </ActionForm>
                        </Show>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll">
            <table class="activity users">
                <thead>
                    <tr>
                        <th>"Account"</th>
                        <th>"Role"</th>
                        <th>"State"</th>
                        <th>"Created"</th>
                        <th>"Actions"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
